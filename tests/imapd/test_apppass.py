"""App passwords: added with imapd-userdb, used at login by userdb and PAM
users, listed, revoked, and refused after revocation like any wrong
password, with the label in the log."""

import re
import subprocess
import time

import pytest

import imapdtest

login = imapdtest.login_answer

TOOL = imapdtest.ROOT / "tools" / "imapd-userdb"
SHAPE = re.compile(r"^[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){4}$")


def tool(path, *args, check=True):
    p = subprocess.run([str(TOOL), "-f", str(path), "app-password", *args],
                       capture_output=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def add(path, user, label):
    p = tool(path, "add", user, label)
    pw = p.stdout.decode().strip()
    assert SHAPE.match(pw), pw
    assert f"app password {label} added for {user}" in p.stderr.decode()
    return pw


def labels(path, user):
    out = tool(path, "list", user).stdout.decode()
    return [l.split("\t")[0] for l in out.splitlines()]


@pytest.fixture
def appserver(server_factory, tmp_path):
    path = tmp_path / "app-passwords.cdb"
    s = server_factory(app_passwords=path, auth_penalty_max=0)
    s.app_passwords = path
    return s


def test_userdb_user_add_use_list_revoke(appserver, userdb):
    s, path = appserver, appserver.app_passwords
    phone = add(path, userdb["user"], "phone")
    laptop = add(path, userdb["user"], "laptop")
    assert phone != laptop
    assert labels(path, userdb["user"]) == ["phone", "laptop"]
    # only the hash is stored
    assert phone.encode() not in path.read_bytes()
    assert phone.replace("-", "").encode() not in path.read_bytes()

    assert login(s, userdb["user"], phone).startswith("a OK")
    s.wait_log(r"user=vuser .*logged in \(userdb, method=app-password "
               r"label=phone, TLS\)")
    # as a phone keyboard may send it: capitals, no dashes
    assert login(s, userdb["user"],
                 laptop.replace("-", "").upper()).startswith("a OK")
    s.wait_log(r"user=vuser .*logged in \(userdb, method=app-password "
               r"label=laptop, TLS\)")
    # the account's own password still works, and says so
    assert login(s, userdb["user"], userdb["password"]).startswith("a OK")
    s.wait_log(r"user=vuser .*logged in \(userdb, TLS\)")

    p = tool(path, "revoke", userdb["user"], "phone")
    assert "app password phone of vuser revoked" in p.stderr.decode()
    assert labels(path, userdb["user"]) == ["laptop"]
    assert login(s, userdb["user"], phone) == \
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    s.wait_log(r"user=vuser .*login failed: wrong password \(userdb")
    # the other device goes on
    assert login(s, userdb["user"], laptop).startswith("a OK")
    # revoking what is not there is an error
    p = tool(path, "revoke", userdb["user"], "phone", check=False)
    assert p.returncode == 1
    assert "vuser has no app password labelled phone" in p.stderr.decode()


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="needs PAM as root")
def test_pam_user_add_use_revoke(appserver, mailuser):
    s, path = appserver, appserver.app_passwords
    if not s.build.pam_ok:
        pytest.skip("this build cannot run PAM")
    pw = add(path, mailuser.name, "tablet")
    c = s.imaplib(tls=True)
    assert c.login(mailuser.name, pw)[0] == "OK"
    c.logout()
    s.wait_log(r"user=%s .*logged in \(pam, method=app-password "
               r"label=tablet, TLS\)" % mailuser.name)
    tool(path, "revoke", mailuser.name, "tablet")
    assert labels(path, mailuser.name) == []
    assert login(s, mailuser.name, pw) == \
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    s.wait_log(r"user=%s .*login failed: PAM \(\S+\) says: "
               r"Authentication failure" % mailuser.name)
    # the Unix password is untouched
    c = s.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"
    c.logout()


def test_app_password_is_the_users_own(appserver, userdb, mailuser):
    s, path = appserver, appserver.app_passwords
    other = add(path, mailuser.name, "phone")
    assert login(s, userdb["user"], other) == \
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    assert "method=app-password" not in s.log()


def test_tool_refuses_duplicates_and_bad_names(tmp_path):
    path = tmp_path / "ap.cdb"
    add(path, "someone", "phone")
    p = tool(path, "add", "someone", "phone", check=False)
    assert p.returncode == 1
    assert "already has an app password labelled phone" in \
        p.stderr.decode()
    p = tool(path, "add", "someone", "bad label", check=False)
    assert p.returncode == 1 and "label: " in p.stderr.decode()
    p = tool(path, "add", "-x", "phone", check=False)
    assert p.returncode != 0
    p = tool(path, "list", "nobody-here")
    assert p.stdout == b""
    assert "nobody-here has no app passwords" in p.stderr.decode()
    # written whole: no temporary file is left behind
    assert sorted(x.name for x in tmp_path.iterdir()) == \
        ["ap.cdb", "ap.cdb.lock"]


def test_missing_file_means_no_app_passwords(server_factory, userdb,
                                             tmp_path):
    s = server_factory(app_passwords=tmp_path / "none.cdb")
    assert login(s, userdb["user"], "abcd-efgh-ijkm-npqr-stuv") == \
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    assert login(s, userdb["user"], userdb["password"]).startswith("a OK")
    assert "app passwords:" not in s.log()


def test_damaged_file_is_logged_and_password_still_works(server_factory,
                                                         userdb, tmp_path):
    path = tmp_path / "ap.cdb"
    s = server_factory(app_passwords=path)
    # damaged while imapd runs (it does not start with a damaged file)
    path.write_bytes(b"not a cdb")
    p = subprocess.run([str(s.build.imapd), "-t", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30, env=s.env())
    assert p.returncode == 1
    assert f"app_passwords {path}: not a valid cdb file" in \
        p.stderr.decode()
    assert login(s, userdb["user"], "abcd-efgh-ijkm-npqr-stuv") == \
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    s.wait_log(r"app passwords: .*ap\.cdb: not a valid cdb file")
    assert login(s, userdb["user"], userdb["password"]).startswith("a OK")


def test_app_password_check_costs_the_same_for_everyone(server_factory,
                                                         userdb, tmp_path):
    """A timing equality is the property here.  With no deadline at all,
    a wrong app-shaped password costs one hash whether the user has app
    passwords or not: against the entry its first letters select, or
    against a dummy of the same cost."""
    path = tmp_path / "ap.cdb"
    pw = add(path, userdb["user"], "phone")
    s = server_factory(auth="userdb", app_passwords=path,
                       auth_fail_delay=0, auth_penalty_max=0)
    # the same first four letters select the stored entry
    wrong = pw[:5] + "aaaa-aaaa-aaaa-aaaa"
    best = {}
    for label, user in (("has", userdb["user"]), ("none", "vnosuch")) * 3:
        t0 = time.monotonic()
        answer = login(s, user, wrong)
        secs = time.monotonic() - t0
        assert answer.startswith("a NO [AUTHENTICATIONFAILED]"), answer
        best[label] = min(best.get(label, 99), secs)
    print("seconds to the answer:", best)
    assert best["none"] >= 0.5 * best["has"], best
