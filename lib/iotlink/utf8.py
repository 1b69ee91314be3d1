"""Strict UTF-8 check (RFC 3629), for the WebSocket client's text messages."""


def valid(b):
    """True when ``b`` is well-formed UTF-8 (RFC 3629: no overlong forms, no
    surrogates, nothing above U+10FFFF).  Byte by byte, allocates nothing:
    bytes.decode() is not strict on every port."""
    need = lo = hi = 0
    for c in b:
        if need:
            if c < lo or c > hi:
                return False
            lo = 0x80
            hi = 0xBF
            need -= 1
        elif c > 0x7F:
            lo = 0x80
            hi = 0xBF
            if c < 0xC2 or c > 0xF4:
                return False
            if c < 0xE0:
                need = 1
            elif c < 0xF0:
                need = 2
                if c == 0xE0:
                    lo = 0xA0
                elif c == 0xED:
                    hi = 0x9F
            else:
                need = 3
                if c == 0xF0:
                    lo = 0x90
                elif c == 0xF4:
                    hi = 0x8F
    return not need
