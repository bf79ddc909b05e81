"""A login through nginx's mail proxy (Debian's nginx-light and
libnginx-mod-mail), which sends imapd a PROXY v1 header (proxy_protocol
on) and asks a tiny auth_http responder, written here, where each login
goes: imapd must see, log and count the client nginx serves, not nginx.
Skipped when nginx or its mail module is not installed."""

import http.server
import threading

import pytest

import imapdtest
import nginxmail

CLIENT = "127.0.0.5"

pytestmark = nginxmail.needed


class AuthHandler(http.server.BaseHTTPRequestHandler):
    """nginx's auth_http protocol: request headers in, Auth-Status,
    Auth-Server and Auth-Port out."""

    def do_GET(self):
        self.server.asked.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Auth-Status", "OK")
        self.send_header("Auth-Server", "127.0.0.1")
        self.send_header("Auth-Port", str(self.server.backend_port))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def auth_http(server_factory):
    imapd = server_factory(proxy_protocol="yes", trusted_proxies="127.0.0.1",
                           allow_plaintext_auth="yes")
    httpd = http.server.HTTPServer(("127.0.0.1", 0), AuthHandler)
    httpd.asked = []
    httpd.backend_port = imapd.port
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield imapd, httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def nginx(auth_http, tmp_path):
    imapd, httpd = auth_http
    n = nginxmail.Nginx(tmp_path / "nginx", httpd.server_address[1])
    yield imapd, httpd, n.port
    n.stop()


def test_login_through_nginx(nginx):
    imapd, httpd, port = nginx
    c = imapdtest.Raw(port, source=CLIENT)
    assert c.line().startswith("* OK"), "nginx's greeting"
    user, pw = imapd.userdb["user"], imapd.userdb["password"]
    r = c.cmd("a", f"LOGIN {user} {pw}")
    assert r[-1].startswith("a OK"), r
    r = c.cmd("b", "SELECT INBOX")
    assert r[-1].startswith("b OK"), r
    c.cmd("c", "LOGOUT")
    c.close()
    # nginx asked where to go, naming the client
    assert httpd.asked and httpd.asked[0]["Client-IP"] == CLIENT
    assert httpd.asked[0]["Auth-User"] == user
    # and imapd believed the header nginx sent: the client, not nginx
    imapd.wait_log(r"rip=127\.0\.0\.5: client port \d+ through the proxy "
                   r"at 127\.0\.0\.1 \(PROXY v1\)")
    imapd.wait_log(r"user=vuser rip=127\.0\.0\.5: logged in")
    assert not any("rip=127.0.0.1: logged in" in l
                   for l in imapd.log().splitlines())
