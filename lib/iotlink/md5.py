"""MD5 (RFC 1321) in plain Python: the 16-byte digest, for firmware built
without ``hashlib.md5``.  ``sign.md5_hex`` uses it only there."""

import struct


# MD5 round constants floor(abs(sin(i + 1)) * 2**32), little-endian.  Stored, not
# computed: boards with single-precision floats would get them wrong.
_K = (
    b"\x78\xa4\x6a\xd7\x56\xb7\xc7\xe8\xdb\x70\x20\x24\xee\xce\xbd\xc1\xaf\x0f\x7c\xf5\x2a\xc6\x87\x47\x13\x46\x30\xa8\x01\x95\x46\xfd"
    b"\xd8\x98\x80\x69\xaf\xf7\x44\x8b\xb1\x5b\xff\xff\xbe\xd7\x5c\x89\x22\x11\x90\x6b\x93\x71\x98\xfd\x8e\x43\x79\xa6\x21\x08\xb4\x49"
    b"\x62\x25\x1e\xf6\x40\xb3\x40\xc0\x51\x5a\x5e\x26\xaa\xc7\xb6\xe9\x5d\x10\x2f\xd6\x53\x14\x44\x02\x81\xe6\xa1\xd8\xc8\xfb\xd3\xe7"
    b"\xe6\xcd\xe1\x21\xd6\x07\x37\xc3\x87\x0d\xd5\xf4\xed\x14\x5a\x45\x05\xe9\xe3\xa9\xf8\xa3\xef\xfc\xd9\x02\x6f\x67\x8a\x4c\x2a\x8d"
    b"\x42\x39\xfa\xff\x81\xf6\x71\x87\x22\x61\x9d\x6d\x0c\x38\xe5\xfd\x44\xea\xbe\xa4\xa9\xcf\xde\x4b\x60\x4b\xbb\xf6\x70\xbc\xbf\xbe"
    b"\xc6\x7e\x9b\x28\xfa\x27\xa1\xea\x85\x30\xef\xd4\x05\x1d\x88\x04\x39\xd0\xd4\xd9\xe5\x99\xdb\xe6\xf8\x7c\xa2\x1f\x65\x56\xac\xc4"
    b"\x44\x22\x29\xf4\x97\xff\x2a\x43\xa7\x23\x94\xab\x39\xa0\x93\xfc\xc3\x59\x5b\x65\x92\xcc\x0c\x8f\x7d\xf4\xef\xff\xd1\x5d\x84\x85"
    b"\x4f\x7e\xa8\x6f\xe0\xe6\x2c\xfe\x14\x43\x01\xa3\xa1\x11\x08\x4e\x82\x7e\x53\xf7\x35\xf2\x3a\xbd\xbb\xd2\xd7\x2a\x91\xd3\x86\xeb"
)


def digest(data):
    """RFC 1321 MD5 in plain Python, for firmware built without hashlib.md5."""
    s = (7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21)
    k = struct.unpack("<64I", _K)
    a0, b0, c0, d0 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    n = len(data)
    data = bytes(data) + b"\x80" + bytes((55 - n) % 64) + struct.pack("<Q", (n * 8) & 0xFFFFFFFFFFFFFFFF)
    m = 0xFFFFFFFF
    for off in range(0, len(data), 64):
        w = struct.unpack("<16I", data[off:off + 64])
        a, b, c, d = a0, b0, c0, d0
        for i in range(64):
            r = i >> 4
            if r == 0:
                f, g = (b & c) | (~b & d), i
            elif r == 1:
                f, g = (d & b) | (~d & c), (5 * i + 1) & 15
            elif r == 2:
                f, g = b ^ c ^ d, (3 * i + 5) & 15
            else:
                f, g = c ^ (b | (~d & m)), (7 * i) & 15
            f = (f + a + k[i] + w[g]) & m
            sh = s[(r << 2) | (i & 3)]
            a, d, c = d, c, b
            b = (b + ((f << sh) | (f >> (32 - sh)))) & m
        a0, b0, c0, d0 = (a0 + a) & m, (b0 + b) & m, (c0 + c) & m, (d0 + d) & m
    return struct.pack("<4I", a0, b0, c0, d0)
