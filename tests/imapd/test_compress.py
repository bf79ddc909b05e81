"""COMPRESS=DEFLATE (RFC 4978) with Python's zlib at the client's end:
a whole session through the compressed stream on every port, the refusals
the RFC asks for, and compressed input that inflates past the limits."""

import os
import pathlib
import re
import shutil
import subprocess
import zlib

import pytest

import imapdtest
from imapdtest import crlf, drop, message

OFFLINEIMAP = shutil.which("offlineimap")


class ZClient(imapdtest.Raw):
    """A raw IMAP client that can turn on DEFLATE in both directions and
    counts the bytes on the wire."""

    co = do = None
    wire_in = wire_out = plain_in = 0

    @classmethod
    def connect(cls, server, mode):
        """mode: tls (port 993), starttls or plain (port 143)."""
        c = cls(server.tls_port if mode == "tls" else server.port,
                server.tls_context() if mode == "tls" else None)
        c.greeting = c.line()
        if mode == "starttls":
            assert c.cmd("s", "STARTTLS")[-1].startswith("s OK")
            c.starttls(server.tls_context())
        return c

    def login(self, user):
        r = self.cmd("l", f"LOGIN {user.name} {user.password}")
        assert r[-1].startswith("l OK"), r
        return r[-1]

    def start(self):
        """Compress from now on; bytes already received after the tagged
        OK are compressed ones."""
        self.co = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.do = zlib.decompressobj(-15)
        self.buf = self.do.decompress(self.buf)

    def recv(self):
        chunk = self.sock.recv(65536)
        self.wire_in += len(chunk)
        if self.do is not None and chunk:
            chunk = self.do.decompress(chunk)
            # a flush marker alone inflates to nothing: not the end
            while not chunk:
                raw = self.sock.recv(65536)
                if not raw:
                    return b""
                self.wire_in += len(raw)
                chunk = self.do.decompress(raw)
        self.plain_in += len(chunk)
        return chunk

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.co is not None:
            data = self.co.compress(data) + self.co.flush(zlib.Z_SYNC_FLUSH)
        self.send_raw(data)

    def send_raw(self, data):
        self.wire_out += len(data)
        self.sock.sendall(data)

    def exact(self, n):
        while len(self.buf) < n:
            chunk = self.recv()
            if not chunk:
                raise EOFError("closed in a literal")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def tagged(self, tag, literals=None):
        """Lines up to the tagged one; literal bytes go to literals."""
        out = []
        while True:
            l = self.line()
            m = re.search(r"\{(\d+)\}$", l)
            if m and literals is not None:
                literals.append(self.exact(int(m.group(1))))
            out.append(l)
            if l.startswith(tag + " "):
                return out

    def cmd(self, tag, text, literals=None):
        self.send(f"{tag} {text}\r\n")
        return self.tagged(tag, literals)

    def compress(self):
        r = self.cmd("z", "COMPRESS DEFLATE")
        assert r[-1].startswith("z OK"), r
        self.start()


def compressed(server, user):
    """A logged-in session on port 993, compressed."""
    c = ZClient.connect(server, "tls")
    c.login(user)
    c.compress()
    return c


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    return server


def big_message():
    lines = "".join(f"line {i}: the quick brown fox jumps over dog {i * 7}\n"
                    for i in range(30000))
    return message(subject="big", body=lines)


def session_through_compression(server, mailuser, mode):
    msg = big_message()
    drop(mailuser, msg, flags="S")
    c = ZClient.connect(server, mode)
    assert "COMPRESS=DEFLATE" not in c.greeting
    ok = c.login(mailuser)
    assert "COMPRESS=DEFLATE" in ok.split("]")[0]
    c.compress()
    assert "COMPRESS=DEFLATE" in c.cmd("a", "CAPABILITY")[0]
    r = c.cmd("b", "SELECT INBOX")
    assert "* 1 EXISTS" in r and r[-1].startswith("b OK"), r
    lits = []
    before_wire, before_plain = c.wire_in, c.plain_in
    r = c.cmd("c", "FETCH 1 BODY.PEEK[]", lits)
    assert r[-1].startswith("c OK"), r
    assert lits == [crlf(msg)]
    # the message went compressed
    assert c.wire_in - before_wire < (c.plain_in - before_plain) / 4

    # IDLE: a delivery while idling arrives at once, compressed
    c.send("d IDLE\r\n")
    assert c.line().startswith("+ ")
    drop(mailuser, message(subject="while idle"))
    assert c.line() == "* 2 EXISTS"
    c.send("DONE\r\n")
    assert c.tagged("d")[-1].startswith("d OK")

    # APPEND with a synchronizing literal through the stream
    body = crlf(message(subject="appended", body="x" * 100000 + "\n"))
    c.send(f"e APPEND INBOX {{{len(body)}}}\r\n")
    assert c.line().startswith("+ ")
    c.send(body + b"\r\n")
    r = c.tagged("e")
    assert r[-1].startswith("e OK"), r
    files = os.listdir(mailuser.maildir() / "cur")
    stored = [pathlib.Path(mailuser.maildir() / "cur" / f).read_bytes()
              for f in files]
    assert any(b"Subject: appended" in s and b"x" * 100000 in s
               for s in stored)

    r = c.cmd("f", "LOGOUT")
    assert r[0].startswith("* BYE") and r[-1].startswith("f OK"), r
    assert c.closed()
    c.close()
    server.wait_log(r"session ended: logged out \(commands=\d+ in=\d+ "
                    r"out=\d+, compressed in=\d+ out=\d+\)")


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_compressed_session(md, mailuser, mode):
    session_through_compression(md, mailuser, mode)


def test_compressed_session_plaintext(server_factory, mailuser):
    srv = server_factory(allow_plaintext_auth="yes")
    imapdtest.maildir_reset(mailuser)
    session_through_compression(srv, mailuser, "plain")


def test_compress_before_login_is_refused(md):
    c = ZClient.connect(md, "tls")
    r = c.cmd("a", "COMPRESS DEFLATE")
    assert r[-1].startswith("a BAD"), r
    # still uncompressed
    assert c.cmd("b", "NOOP")[-1].startswith("b OK")
    c.close()


def test_second_compress_is_no_compressionactive(md, mailuser):
    c = compressed(md, mailuser)
    r = c.cmd("a", "COMPRESS DEFLATE")
    assert r[-1].startswith("a NO [COMPRESSIONACTIVE]"), r
    assert c.cmd("b", "NOOP")[-1].startswith("b OK")
    c.close()


def test_unknown_mechanism_is_bad(md, mailuser):
    c = ZClient.connect(md, "tls")
    c.login(mailuser)
    assert c.cmd("a", "COMPRESS LZMA")[-1].startswith("a BAD")
    assert c.cmd("b", "COMPRESS")[-1].startswith("b BAD")
    # nothing was turned on
    assert c.cmd("c", "NOOP")[-1].startswith("c OK")
    c.compress()
    assert c.cmd("d", "NOOP")[-1].startswith("d OK")
    c.close()


def test_compressed_bytes_sent_with_the_command(md, mailuser):
    """A client that does not wait for the OK: its compressed bytes,
    read along with COMPRESS, are inflated, not parsed as text."""
    c = ZClient.connect(md, "tls")
    c.login(mailuser)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    c.send_raw(b"z COMPRESS DEFLATE\r\n" + co.compress(b"y NOOP\r\n") +
               co.flush(zlib.Z_SYNC_FLUSH))
    assert c.tagged("z")[-1].startswith("z OK")
    c.start()
    c.co = co
    assert c.tagged("y")[-1].startswith("y OK")
    assert c.cmd("x", "NOOP")[-1].startswith("x OK")
    c.close()


def test_stdio_session_compresses(build, workdir):
    """imapd --stdio reads and writes different descriptors; COMPRESS
    works there too, with the commands sent along with it."""
    conf = workdir / "stdio-z.conf"
    conf.write_text("listen_imap = 127.0.0.1:1\n"
                    f"mail_location = {workdir}/stdio-z-Maildir\n")
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = (b"a COMPRESS DEFLATE\r\n" +
            co.compress(b"b NOOP\r\nc LOGOUT\r\n") +
            co.flush(zlib.Z_SYNC_FLUSH))
    p = subprocess.run([str(build.imapd), "--stdio", "-c", str(conf)],
                       input=data, capture_output=True, timeout=30,
                       env=build.env())
    head, ok, rest = p.stdout.partition(b"\r\na OK")
    assert head.startswith(b"* PREAUTH") and ok, p.stdout[:300]
    line, _, z = rest.partition(b"\r\n")
    out = zlib.decompressobj(-15).decompress(z).decode()
    assert "b OK" in out and "* BYE" in out and "c OK" in out, out
    assert p.returncode == 0
    assert "AddressSanitizer" not in p.stderr.decode()


def test_idle_sees_delivery_after_an_empty_flush(md, mailuser):
    """Bytes that inflate to nothing (a bare sync flush) must not leave
    IDLE waiting in a read: a delivery after them still arrives."""
    drop(mailuser, message(subject="one"))
    c = compressed(md, mailuser)
    c.cmd("a", "SELECT INBOX")
    c.send("b IDLE\r\n")
    assert c.line().startswith("+ ")
    # an empty stored block, as a sync flush with nothing to flush is
    c.send_raw(b"\x00\x00\x00\xff\xff")
    drop(mailuser, message(subject="two"))
    assert c.line() == "* 2 EXISTS"
    c.send("DONE\r\n")
    assert c.tagged("b")[-1].startswith("b OK")
    c.close()


def bomb(text, size):
    """text followed by size bytes of 'a': a few KB compressed."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = co.compress(text)
    chunk = b"a" * (1024 * 1024)
    for _ in range(size // len(chunk)):
        out += co.compress(chunk)
    return out + co.flush(zlib.Z_SYNC_FLUSH)


def assert_ends_session(server, c, data, log):
    """Sending data ends the compressed session c with a log line."""
    c.send_raw(data)
    assert c.closed()
    server.wait_log(log)
    c.close()


def test_line_that_inflates_past_the_limit_ends_the_session(md, mailuser):
    data = bomb(b"a NOOP ", 16 * 1024 * 1024)
    assert len(data) < 32 * 1024
    assert_ends_session(md, compressed(md, mailuser), data,
                        r"closing: Line too long \(after login, compressed "
                        r"input inflated past the line limit 65536 bytes\)")
    # the server goes on
    compressed(md, mailuser).close()


def test_literal_over_the_limit_ends_a_compressed_session(md, mailuser):
    """A non-synchronizing literal larger than any command takes is not
    skipped, here as uncompressed: skipping it would inflate up to a
    thousand times what was sent, so the session ends before a byte of
    it is read."""
    assert_ends_session(
        md, compressed(md, mailuser),
        bomb(b"a APPEND INBOX {1000000000+}\r\n", 4 * 1024 * 1024),
        r"APPEND: refused a literal of 1000000000 bytes \(the limit for "
        r"a message \(APPENDLIMIT\) there is 67108864 bytes\)")
    md.wait_log(r"session ended: protocol error .*compressed in=")


def test_idle_line_that_inflates_past_the_limit(md, mailuser):
    c = compressed(md, mailuser)
    c.cmd("a", "SELECT INBOX")
    c.send("b IDLE\r\n")
    assert c.line().startswith("+ ")
    assert_ends_session(md, c, bomb(b"", 8 * 1024 * 1024),
                        r"closing: compressed input inflated past the line "
                        r"limit of 1024 bytes")


def test_input_that_is_not_deflate_ends_the_session(md, mailuser):
    assert_ends_session(md, compressed(md, mailuser),
                        b"\xff" * 64 + b"a NOOP\r\n",
                        r"connection error: compressed input is not valid "
                        r"DEFLATE")


@pytest.mark.skipif(OFFLINEIMAP is None, reason="offlineimap3 not installed")
def test_offlineimap_with_compression(md, mailuser):
    for i in range(3):
        drop(mailuser, message(subject=f"zoi {i}"), flags="S")
    base = pathlib.Path(md.dir) / "offlineimap-z"
    rc = imapdtest.offlineimap_rc(base, md, mailuser,
                                  "usecompression = yes\n")
    p = subprocess.run([OFFLINEIMAP, "-c", str(rc), "-o", "-u", "basic"],
                       capture_output=True, timeout=180)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0 and "ERROR" not in out, out
    assert len(os.listdir(base / "mail" / "INBOX" / "cur")) == 3
    md.wait_log(r"session ended: .*compressed in=\d+ out=\d+")
