"""nginx's mail proxy (Debian's nginx-light and libnginx-mod-mail) for
the tests: an IMAP listener on a free loopback port that asks an
auth_http service where each login goes and sends the backend a PROXY
v1 header.  Tests that need it are skipped when it is not installed."""

import pathlib
import socket
import subprocess
import time

import pytest

import imapdtest

NGINX = pathlib.Path("/usr/sbin/nginx")
MAIL_MODULE = pathlib.Path("/usr/lib/nginx/modules/ngx_mail_module.so")

needed = pytest.mark.skipif(
    not (NGINX.exists() and MAIL_MODULE.exists()),
    reason="nginx and its mail module (nginx-light, libnginx-mod-mail) "
    "are not installed")


class Nginx:
    """Started in directory d (created), asking the auth_http service
    on 127.0.0.1:auth_port; .port is where clients connect.  connections
    bounds the connections it holds at once, each proxied session taking
    two."""

    def __init__(self, d, auth_port, connections=64):
        self.dir = d
        self.port = imapdtest.free_port()
        d.mkdir()
        (d / "nginx.conf").write_text(f"""
load_module {MAIL_MODULE};
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections {connections}; }}
mail {{
    server_name localhost;
    auth_http 127.0.0.1:{auth_port}/auth;
    server {{
        listen 127.0.0.1:{self.port};
        protocol imap;
        imap_auth login plain;
        proxy_protocol on;
    }}
}}
""")
        self.proc = subprocess.Popen(
            [str(NGINX), "-p", str(d), "-e", str(d / "error.log"), "-c",
             str(d / "nginx.conf")], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(d / "stderr", "wb"))
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, (d / "stderr").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx is not listening"
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
