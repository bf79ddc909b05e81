"""tools/imapd-router for the tests: started on a free loopback port
with a configuration naming the given imapd servers as its backends,
asked as nginx's mail proxy asks, its log read with bounded waits."""

import re
import socket
import subprocess
import time

import imapdtest

SECRET = "Pa55-word-never-logged"


class Router:
    def __init__(self, build, d, backends, **keys):
        self.build = build
        self.dir = d
        self.dir.mkdir(exist_ok=True)
        self.drain = d / "drain"
        self.drain.mkdir(exist_ok=True)
        self.port = imapdtest.free_port()
        self.keys = {
            "listen": f"127.0.0.1:{self.port}",
            "backends": ", ".join(f"{b.host}:{b.port}" for b in backends),
            "drain_dir": str(self.drain),
            # a backend under the sanitizers on a loaded machine may
            # take a while to greet: a generous deadline keeps a slow
            # greeting from counting as a failure
            "check_interval": "2s",
            "check_timeout": "2s",
        }
        self.keys.update(keys)
        self.conf = d / "router.conf"
        self.logp = d / "router.log"
        self.proc = None

    def start(self):
        self.conf.write_text("".join(f"{k} = {v}\n"
                                     for k, v in self.keys.items()))
        self.proc = subprocess.Popen(
            [str(self.build.tool("imapd-router")), "-f", "-c",
             str(self.conf)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.logp, "ab"),
            env=self.build.env())
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self):
        try:
            return self.logp.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, count=1, timeout=30):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len([l for l in self.log().splitlines()
                    if rx.search(l)]) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {count} router log lines match "
                             f"{pattern!r}:\n{self.log()}")

    def wait_up(self, backend, count=1):
        self.wait_log(rf"backend {re.escape(backend.host)}:{backend.port}: "
                      r"up\b", count)

    def wait_down(self, backend):
        self.wait_log(rf"backend {re.escape(backend.host)}:{backend.port}: "
                      r"down\b")

    def raw(self, data, timeout=30):
        """Send bytes, return the whole answer (the router closes)."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout) as s:
            try:
                s.sendall(data)
            except OSError:
                pass
            out = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
        return out.decode()

    def ask(self, user, rip="192.0.2.7", password=SECRET, attempt=1):
        """A request as nginx's mail proxy sends it; the answer's
        headers as a dict."""
        req = ("GET /auth HTTP/1.0\r\nHost: localhost\r\n"
               "Auth-Method: plain\r\n"
               f"Auth-User: {user}\r\nAuth-Pass: {password}\r\n"
               "Auth-Protocol: imap\r\n"
               f"Auth-Login-Attempt: {attempt}\r\n"
               f"Client-IP: {rip}\r\nClient-Host: [UNAVAILABLE]\r\n\r\n")
        return parse(self.raw(req.encode()))

    def where(self, user):
        h = self.ask(user)
        assert h.get("Auth-Status") == "OK", h
        assert h["Auth-Server"] == "127.0.0.1", h
        return int(h["Auth-Port"])


def parse(answer):
    lines = answer.split("\r\n")
    assert lines[0] == "HTTP/1.0 200 OK", answer
    h = {}
    for l in lines[1:]:
        if not l:
            break
        k, v = l.split(": ", 1)
        h[k] = v
    return h
