# TLS client contexts for the board's WebSocket (hal/ws_micro.py) and HTTP (hal/http_client.py) clients,
# on both runtimes: the server verified against ca_file, a client certificate for mutual TLS (OCPP
# security profile 3), PEM or DER files. Loaded with the first wss:// or https:// connection: a charger
# on plain ws:// never needs it (issue #4: the heap of a board).
import binascii
import ssl


def der_blocks(path, kind):
    """The DER bodies of the PEM blocks in a file whose label contains kind ("CERTIFICATE",
    "PRIVATE KEY"), or the whole file if it is DER already."""
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN " not in data:
        return [data]
    blocks = []
    start = data.find(b"-----BEGIN ")
    while start >= 0:
        label_end = data.find(b"-----", start + 11)
        end = data.find(b"-----END ", label_end)
        if label_end < 0 or end < 0:
            raise ValueError("unterminated PEM block in %s" % path)
        if kind.encode() in data[start + 11:label_end]:
            blocks.append(binascii.a2b_base64(data[label_end + 5:end]))
        start = data.find(b"-----BEGIN ", end + 9)
    if not blocks:
        raise ValueError("no %s in %s" % (kind, path))
    return blocks


# MicroPython's own mbedtls configuration (unix, stm32, rp2; not esp32's ESP-IDF one) leaves out
# MBEDTLS_PEM_PARSE_C: PEM files fail with ValueError("invalid cert"/"invalid key"). Then the same
# files go in as DER: every CA certificate, and the first certificate of the client chain with its key
# (without PEM parsing, mbedtls reads one DER certificate per call, so a chain is cut to the leaf).
def _load_ca(context, ca_file):
    try:
        context.load_verify_locations(ca_file)
    except (ValueError, OSError):  # OSError: CPython's ssl.SSLError for a DER file
        for der in der_blocks(ca_file, "CERTIFICATE"):
            context.load_verify_locations(cadata=der)


def _load_cert_chain(context, cert_file, key_file):
    try:
        context.load_cert_chain(cert_file, key_file)
    except ValueError:
        context.load_cert_chain(der_blocks(cert_file, "CERTIFICATE")[0], der_blocks(key_file, "PRIVATE KEY")[0])


def client_context(ca_file=None, cert_file=None, key_file=None, verify_server=True):
    """A fresh SSLContext: ca_file verifies the server (required on MicroPython, which has no system CA
    store, unless verify_server is False); cert_file and key_file are the client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        _load_ca(context, ca_file)
        context.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE
    elif not verify_server:
        if hasattr(context, "check_hostname"):
            context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif hasattr(context, "load_default_certs"):
        context.load_default_certs()
    else:
        raise OSError("TLS needs ca_file here (no system CA store), or verify_server=False")
    if cert_file:
        _load_cert_chain(context, cert_file, key_file or cert_file)
    return context
