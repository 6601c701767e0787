# MQTT over TLS for the beacon: an ssl.SSLContext that trusts only the site
# CA (ca.pem, written by `focuslight flash --ca-file`). MicroPython's mbedtls
# takes DER, not PEM, so the PEM is decoded here. A board has no CA store of
# its own, and needs the right time (NTP) for certificate dates to check:
# see docs/firmware.md, "MQTT over TLS".
from binascii import a2b_base64


def tls_context(ca_file):
    """An SSLContext that trusts only the CA(s) in the PEM file *ca_file*.

    ssl is imported here, not at the top: a plain-MQTT beacon never pays its heap.
    """
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    for der in pem_certificates(ca_file):
        ctx.load_verify_locations(cadata=der)
    return ctx


def pem_certificates(path):
    """The DER bytes of every certificate in the PEM file at *path*; ValueError if none."""
    out, b64 = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line == "-----BEGIN CERTIFICATE-----":
                b64 = []
            elif line == "-----END CERTIFICATE-----" and b64 is not None:
                out.append(a2b_base64("".join(b64)))
                b64 = None
            elif b64 is not None:
                b64.append(line)
    if not out:
        raise ValueError("no certificate in it")
    return out
