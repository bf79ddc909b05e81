"""Limits before login: the one pre-login deadline."""

import socket
import time


def test_login_deadline_includes_the_tls_handshake(server_factory):
    """timeout_login counts from accept on the TLS port too: a client that
    takes its time over the handshake has that much less to log in."""
    s = server_factory(timeout_login="3s")
    raw = socket.create_connection(("127.0.0.1", s.tls_port), 10)
    t0 = time.monotonic()
    time.sleep(2.2)
    tls = s.tls_context().wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(10)
    buf = b""
    while b"* BYE" not in buf:
        chunk = tls.recv(4096)
        if not chunk:
            break
        buf += chunk
    waited = time.monotonic() - t0
    assert buf.startswith(b"* OK"), buf
    assert b"* BYE Autologout" in buf, buf
    # the BYE comes at the 3 s deadline, not 3 s after the handshake
    assert 2.9 <= waited < 4.5, waited
    tls.close()
