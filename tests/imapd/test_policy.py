"""Login policy per user (login_policy): each rule refusing and allowing,
for userdb and PAM users, with the RFC 5530 response code the client gets
and the log line naming the rule; refusals come only after the right
password and at the failures' deadline; a bad file fails closed."""

import subprocess
import time

import pytest

import imapdtest

login = imapdtest.login_answer

TOOL = imapdtest.ROOT / "tools" / "imapd-userdb"
FAILED = "a NO [AUTHENTICATIONFAILED] Authentication failed"


@pytest.fixture
def pserver(server_factory, tmp_path):
    """A server with a login policy file (empty at first) and an
    app-password file; plaintext logins allowed so that tls=required has
    something to refuse."""
    s = server_factory(login_policy=tmp_path / "login-policy",
                       app_passwords=tmp_path / "app-passwords.cdb",
                       allow_plaintext_auth="yes", auth_fail_delay="300ms",
                       auth_penalty_max=0)
    s.policy = tmp_path / "login-policy"
    s.app_passwords = tmp_path / "app-passwords.cdb"
    s.policy.write_text("")
    return s


def logged_after(server, n):
    """The log lines after the first n."""
    return "\n".join(server.log().splitlines()[n:])


def nlines(server):
    return len(server.log().splitlines())


def test_no_rules_no_file(server_factory, userdb, tmp_path):
    s = server_factory(login_policy=tmp_path / "none")
    assert login(s, userdb["user"], userdb["password"]).startswith("a OK")
    assert "login_policy" not in s.log()


def test_disabled(pserver, userdb):
    s = pserver
    s.policy.write_text("# accounts\n\nvuser disabled=left in May; "
                        "mail kept until December\n")
    assert login(s, "vuser", userdb["password"]) == \
        "a NO [CONTACTADMIN] This account is disabled; contact the " \
        "administrator"
    s.wait_log(r"user=vuser .*login refused by login_policy \S+ line 3, "
               r"rule disabled: left in May; mail kept until December$")
    # a wrong password is a wrong password: the policy comes after it
    n = nlines(s)
    assert login(s, "vuser", "wrong") == FAILED
    s.wait_log(r"user=vuser .*login failed: wrong password")
    assert "login_policy" not in logged_after(s, n)
    # without the line the account logs in again
    s.policy.write_text("someoneelse disabled\n")
    assert login(s, "vuser", userdb["password"]).startswith("a OK")


def test_networks(pserver, userdb):
    s = pserver
    s.policy.write_text("vuser networks=10.0.0.0/8,2001:db8::/32\n")
    assert login(s, "vuser", userdb["password"]) == \
        "a NO [AUTHORIZATIONFAILED] This account may not log in from " \
        "your address"
    s.wait_log(r"user=vuser .*rule networks: 127\.0\.0\.1 is not in the "
               r"networks listed")
    s.policy.write_text("vuser networks=10.0.0.0/8,127.0.0.0/30\n")
    assert login(s, "vuser", userdb["password"]).startswith("a OK")
    s.policy.write_text("vuser networks=127.0.0.1\n")
    assert login(s, "vuser", userdb["password"]).startswith("a OK")
    s.policy.write_text("vuser networks=127.0.0.2/32\n")
    assert login(s, "vuser", userdb["password"]).startswith(
        "a NO [AUTHORIZATIONFAILED]")


def test_tls_required(pserver, userdb):
    s = pserver
    s.policy.write_text("vuser tls=required\n")
    assert login(s, "vuser", userdb["password"], tls=False) == \
        "a NO [PRIVACYREQUIRED] This account logs in only over TLS: use " \
        "STARTTLS, or connect to the TLS port"
    s.wait_log(r"user=vuser .*rule tls=required: the login came without "
               r"TLS")
    assert login(s, "vuser", userdb["password"]).startswith("a OK")
    # other users may still log in in clear (allow_plaintext_auth)
    s.policy.write_text("someoneelse tls=required\n")
    assert login(s, "vuser", userdb["password"], tls=False).startswith(
        "a OK")


def test_app_passwords_required(pserver, userdb):
    s = pserver
    p = subprocess.run([str(TOOL), "-f", str(s.app_passwords),
                        "app-password", "add", "vuser", "phone"],
                       capture_output=True, timeout=60, check=True)
    app = p.stdout.decode().strip()
    s.policy.write_text("vuser app-passwords=required\n")
    assert login(s, "vuser", userdb["password"]) == \
        "a NO [AUTHORIZATIONFAILED] This account logs in only with an " \
        "app password: make one for this device"
    s.wait_log(r"user=vuser .*rule app-passwords=required: the account's "
               r"own password was used")
    assert login(s, "vuser", app).startswith("a OK")
    s.wait_log(r"user=vuser .*logged in \(userdb, method=app-password "
               r"label=phone, TLS\)")


def test_hours(pserver, userdb):
    s = pserver
    now = time.localtime()
    minute = now.tm_hour * 60 + now.tm_min

    def window(start, end):
        def clock(m):
            m %= 24 * 60
            return "%02d:%02d" % (m // 60, m % 60)
        return f"{clock(start)}-{clock(end)}"

    # two hours around now (it may run past midnight), and two hours
    # that begin an hour from now
    s.policy.write_text(f"vuser hours={window(minute - 60, minute + 60)}\n")
    assert login(s, "vuser", userdb["password"]).startswith("a OK")
    later = window(minute + 60, minute + 180)
    s.policy.write_text(f"vuser hours={later}\n")
    assert login(s, "vuser", userdb["password"]) == \
        "a NO [AUTHORIZATIONFAILED] This account may not log in at this " \
        "time of day"
    s.wait_log(r"user=vuser .*rule hours=%s: it is \d\d:\d\d here" % later)


def test_star_applies_to_users_without_a_line(pserver, userdb):
    s = pserver
    s.policy.write_text("* disabled=maintenance\nvuser tls=required\n")
    # vuser's own line replaces *
    assert login(s, "vuser", userdb["password"]).startswith("a OK")
    s.policy.write_text("* disabled=maintenance\nother tls=required\n")
    assert login(s, "vuser", userdb["password"]).startswith(
        "a NO [CONTACTADMIN]")
    s.wait_log(r"user=vuser .*login_policy \S+ line 1, rule disabled: "
               r"maintenance")


def test_refusal_answered_at_the_failures_deadline(server_factory, userdb,
                                                   tmp_path):
    """A timing property: a policy refusal, which only a right password
    reaches, is answered no sooner than a wrong password, at
    auth_fail_delay."""
    policy = tmp_path / "login-policy"
    policy.write_text("vuser disabled\n")
    s = server_factory(login_policy=policy, auth_fail_delay="1500ms",
                       auth_penalty_max=0)
    c = s.raw(tls=True)
    c.line()
    t0 = time.monotonic()
    r = c.cmd("a", f"LOGIN vuser {userdb['password']}", timeout=30)[-1]
    took = time.monotonic() - t0
    c.close()
    assert r.startswith("a NO [CONTACTADMIN]")
    assert took >= 1.45, took


def test_bad_file_fails_closed(pserver, userdb, build):
    s = pserver
    s.policy.write_text("vuser tls=required\nbob colour=blue\n")
    assert login(s, "vuser", userdb["password"]) == \
        "a NO [UNAVAILABLE] Temporary authentication failure, try again " \
        "later"
    s.wait_log(r"login refused: login_policy \S+login-policy:2: unknown "
               r"rule")
    # imapd -t names every bad line
    s.policy.write_text("vuser tls=yes\nvuser networks=300.1.1.1\n"
                        "x hours=8-18\ny disabled\n")
    p = subprocess.run([str(build.imapd), "-t", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30, env=s.env())
    err = p.stderr.decode()
    assert p.returncode == 1
    assert f"{s.policy}:1: tls: only tls=required" in err
    assert f"{s.policy}:2: networks: not an IPv4 or IPv6 address" in err
    assert f"{s.policy}:3: hours: expected HH:MM-HH:MM" in err
    assert f"{s.policy}: vuser has more than one line" in err
    assert ":4:" not in err


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="needs PAM as root")
def test_pam_user(pserver, mailuser):
    s = pserver
    if not s.build.pam_ok:
        pytest.skip("this build cannot run PAM")
    s.policy.write_text(f"{mailuser.name} networks=192.0.2.0/24\n")
    assert login(s, mailuser.name, mailuser.password) == \
        "a NO [AUTHORIZATIONFAILED] This account may not log in from " \
        "your address"
    s.wait_log(r"user=%s .*rule networks: 127\.0\.0\.1" % mailuser.name)
    s.policy.write_text(f"{mailuser.name} networks=127.0.0.0/8 "
                        f"tls=required\n")
    c = s.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"
    c.logout()
    s.wait_log(r"user=%s .*logged in \(pam, TLS\)" % mailuser.name)
