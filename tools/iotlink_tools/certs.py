"""A throw-away certificate authority for local TLS (tests, the local clouds).

Made with the ``openssl`` command so nothing beyond Debian's openssl is needed.
"""

import base64
import os
import subprocess


def _run(*args):
    subprocess.run(("openssl",) + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(folder, hosts=("localhost", "127.0.0.1"), clients=()):
    """Write ca.crt, server.crt/.key (valid for ``hosts``) and, per name in
    ``clients``, <name>.crt/.key signed by the same CA.  Return a dict of paths.
    Existing files are kept, so a folder can be reused between runs."""
    os.makedirs(folder, exist_ok=True)
    p = lambda name: os.path.join(folder, name)
    if not os.path.exists(p("ca.crt")):
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=iotlink test CA", "-keyout", p("ca.key"), "-out", p("ca.crt"))
    out = {"ca": p("ca.crt"), "ca_key": p("ca.key")}
    san = ",".join(("IP:" if h[0].isdigit() or ":" in h else "DNS:") + h for h in hosts)
    for name, cn, ext in [("server", hosts[0], "subjectAltName=" + san)] + \
            [(c, c, "extendedKeyUsage=clientAuth") for c in clients]:
        crt, key, csr = p(name + ".crt"), p(name + ".key"), p(name + ".csr")
        if not os.path.exists(crt):
            _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                 "-keyout", key, "-out", csr)
            extfile = p(name + ".ext")
            with open(extfile, "w") as f:
                f.write(ext + "\n")
            _run("x509", "-req", "-in", csr, "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                 "-CAcreateserial", "-days", "3650", "-extfile", extfile, "-out", crt)
            os.chmod(key, 0o644)  # mosquitto drops root; it must still read its key
        out[name] = crt
        out[name + "_key"] = key
    return out


def pem_to_der(pem_path, der_path):
    """MicroPython's mbedTLS wants DER for ``cadata``; convert one PEM certificate."""
    with open(pem_path) as f:
        body = f.read().split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    with open(der_path, "wb") as f:
        f.write(base64.b64decode("".join(body.split())))
    return der_path
