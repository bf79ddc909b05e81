"""Privilege separation and real PAM, checked from /proc.

As root (as CI runs): the master stays root, idle workers wait, the front
of a live session runs as login_user inside the empty chroot, and the back
runs as the mail user with exactly that user's uid and groups.  Account
state (expired, locked) is honoured through pam_acct_mgmt and the log says
which.  As an ordinary user the same PAM code path runs through
pam_wrapper; those checks are in test_daemon.py."""

import base64
import os
import pwd
import subprocess
import time

import pytest

import imapdtest
from imapdtest import (prelogin_pair, proc_comm, proc_limits, proc_status,
                       session_pair, session_worker, wait_children)

pytestmark = pytest.mark.skipif(not imapdtest.IS_ROOT,
                                reason="needs root to create users")


def ids(status, key):
    return [int(x) for x in status[key].split()]


def fds(pid):
    """What pid's descriptors above stderr point at (sockets, pipes)."""
    return {target for fd, target in imapdtest.proc_fds(pid).items()
            if fd > 2}


def limits_table(pid):
    """Whether pid maps the limits table (the only shared anonymous
    mapping imapd makes)."""
    with open(f"/proc/{pid}/maps") as f:
        return any("/dev/zero" in line for line in f)


def test_process_tree(server, mailuser):
    master = server.proc.pid
    st = proc_status(master)
    assert ids(st, "Uid") == [0, 0, 0, 0]
    assert proc_comm(master) == "imapd-master"
    prefork = int(server.settings["prefork"])
    idle = wait_children(master, "imapd-idle", prefork)
    assert len(idle) >= prefork
    assert all(ids(proc_status(w), "Uid") == [0, 0, 0, 0] for w in idle)
    # the table of connections and failures is shared by the root
    # processes only
    assert limits_table(master) and all(limits_table(w) for w in idle)

    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)

    # a session that has not logged in yet: back is root, front confined
    # (the server's start-up probes are sessions too: let them end)
    assert imapdtest.wait_gone(
        imapdtest.server_sessions(server, "imapd-auth"), 10)
    pre = server.raw(tls=True)
    pre.line()
    backs = wait_children(master, "imapd-auth", 1)
    assert len(backs) == 1
    assert ids(proc_status(backs[0]), "Uid")[0] == 0
    fronts = wait_children(backs[0], "imapd-login", 1)
    assert len(fronts) == 1
    fst = proc_status(fronts[0])
    assert ids(fst, "Uid") == [nobody.pw_uid] * 4
    assert ids(fst, "Gid") == [nobody.pw_gid] * 4
    assert os.readlink(f"/proc/{fronts[0]}/root") == str(server.chroot)
    assert os.listdir(server.chroot) == []
    assert limits_table(backs[0]) and not limits_table(fronts[0])
    # the client's socket is the front's alone
    assert not (fds(backs[0]) & fds(fronts[0]))

    # a logged-in session: back is the mail user, front still confined;
    # the worker stays root as the keeper of the PAM session, reading
    # nothing and holding nothing of the session
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    keepers = wait_children(master, "imapd-pam", 1)
    assert len(keepers) == 1
    assert ids(proc_status(keepers[0]), "Uid") == [0, 0, 0, 0]
    backs = wait_children(keepers[0], "imapd-session", 1)
    assert len(backs) == 1
    bst = proc_status(backs[0])
    assert ids(bst, "Uid") == [mailuser.uid] * 4
    assert ids(bst, "Gid") == [mailuser.gid] * 4
    assert sorted(ids(bst, "Groups")) == mailuser.groups
    assert len(mailuser.groups) >= 2   # the supplementary group is there
    assert bst["CapEff"] == "0000000000000000"
    assert os.readlink(f"/proc/{backs[0]}/cwd") == str(mailuser.home)
    fronts = wait_children(keepers[0], "imapd-login", 1)
    assert len(fronts) == 1
    fst = proc_status(fronts[0])
    assert ids(fst, "Uid") == [nobody.pw_uid] * 4
    assert os.readlink(f"/proc/{fronts[0]}/root") == str(server.chroot)
    assert fst["CapEff"] == "0000000000000000"
    assert not (fds(keepers[0]) & (fds(backs[0]) | fds(fronts[0])))
    assert not (fds(backs[0]) & fds(fronts[0]))
    assert not any(limits_table(p) for p in (keepers[0], backs[0],
                                              fronts[0]))
    # the front holds none of the master's descriptors (listening
    # sockets, status and death pipes), only its client and its back
    assert not (fds(master) & fds(fronts[0]))
    assert not (fds(master) & fds(backs[0]))
    c.logout()
    pre.close()


def test_userdb_user_groups(server, userdb, mailuser):
    c = server.imaplib(tls=True)
    c.login(userdb["user"], userdb["password"])
    backs = wait_children(server.proc.pid, "imapd-session", 1)
    bst = proc_status(backs[0])
    assert ids(bst, "Uid") == [mailuser.uid] * 4
    # a virtual user gets its own gid only, no supplementary groups
    assert ids(bst, "Groups") == [mailuser.gid]
    c.logout()


def _login_fails(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
    return r[-1].startswith("a NO [AUTHENTICATIONFAILED]")


def test_expired_account_refused(server, mailuser):
    subprocess.run(["usermod", "-e", "1", mailuser.name], check=True)
    try:
        assert _login_fails(server, mailuser)
        server.wait_log("expired")
    finally:
        subprocess.run(["usermod", "-e", "", mailuser.name], check=True)
    c = server.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"


def test_locked_account_refused(server, mailuser):
    subprocess.run(["usermod", "-L", mailuser.name], check=True)
    try:
        assert _login_fails(server, mailuser)
        server.wait_log("account is locked")
    finally:
        subprocess.run(["usermod", "-U", mailuser.name], check=True)
    c = server.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"


def test_system_account_refused(server_factory, mailuser):
    s = server_factory(first_valid_uid=mailuser.uid + 1)
    c = s.raw(tls=True)
    c.line()
    r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
    assert r[-1].startswith("a NO [AUTHENTICATIONFAILED]")
    s.wait_log("below first_valid_uid")


def test_missing_login_user_is_reported(build, server_factory):
    s = server_factory()
    s.write_conf(login_user="no-such-user-imapd")
    p = subprocess.run([str(build.imapd), "-t", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30, env=s.env())
    assert p.returncode != 0
    assert "login_user no-such-user-imapd does not exist" in \
        p.stderr.decode()


# --- the sandbox (imapd(8), SANDBOX) -----------------------------------------

def test_sandbox_before_and_after_login(server, mailuser, build):
    """The front runs under the pre-login seccomp filter, with no new
    privileges and limits, from before its first byte from the network;
    after login a second filter is stacked and it can open nothing.  The
    back has no new privileges once it is the user.  No process may dump
    core, and the key process and the front are not dumpable; the key
    process gains no privileges and starts no process either.  (The
    test of what each filter allows is the unit test
    tests/imapd/test-sandbox.c.)"""
    master = server.proc.pid
    pre, pback, pfront = prelogin_pair(server)
    st = proc_status(pfront)
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    assert st["Seccomp_filters"] == "1"
    lim = proc_limits(pfront)
    if not build.sanitized:
        assert lim["Max processes"] == "0"
        assert lim["Max address space"] == str(128 << 20)
    for pid in (master, pback, pfront):
        assert proc_limits(pid)["Max core file size"] == "0"
    # not dumpable, so no process of the same uid may trace it or read
    # its memory: the kernel gives its /proc files to root.  The key
    # process says so itself; a front gets it from the kernel when it
    # changes uid, unless fs.suid_dumpable is 1 (a debugging setting)
    kp = wait_children(master, "imapd-key")[0]
    assert os.stat(f"/proc/{kp}/mem").st_uid == 0
    # nor may it gain privileges or start a process
    assert proc_status(kp)["NoNewPrivs"] == "1"
    if not build.sanitized:
        assert proc_limits(kp)["Max processes"] == "0"
    with open("/proc/sys/fs/suid_dumpable") as f:
        if f.read().strip() != "1":
            assert os.stat(f"/proc/{pfront}/mem").st_uid == 0
    pre.close()

    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    back, front = session_pair(server)
    st = proc_status(front)
    assert st["Seccomp_filters"] == "2"
    assert proc_limits(front)["Max open files"] == "3"
    bst = proc_status(back)
    assert bst["NoNewPrivs"] == "1"
    assert bst["Seccomp"] == "0"
    assert proc_limits(back)["Max core file size"] == "0"
    # the sandboxed front still relays both ways
    assert c.noop()[0] == "OK"
    c.logout()
    server.wait_log("session ended: logged out")
    assert "outside its sandbox" not in server.log()


def test_inherited_descriptors_are_closed(server_factory):
    """imapd keeps none of the descriptors it was started with beyond
    0, 1 and 2, and a closed 0, 1 or 2 becomes /dev/null instead of
    the first socket it opens."""
    s = server_factory()
    s.stop()
    r, w = os.pipe()
    try:
        s.start(pass_fds=(w,), preexec_fn=lambda: os.close(0))
        leaked = os.readlink(f"/proc/self/fd/{w}")
        master = s.proc.pid
        prefork = int(s.settings["prefork"])
        idle = wait_children(master, "imapd-idle", prefork)
        for pid in [master] + idle:
            links = imapdtest.proc_fds(pid)
            assert leaked not in links.values(), (pid, links)
        assert os.readlink(f"/proc/{master}/fd/0") == "/dev/null"
    finally:
        os.close(r)
        os.close(w)


# --- secrets in memory -------------------------------------------------------

SCAN_CHUNK = 1 << 20
SCAN_MAPPING_MAX = 1 << 30     # larger: a sanitizer's shadow reservation


def memory_hits(pid, needles):
    """Where in pid's memory (every readable mapping, through
    /proc/<pid>/mem, as root) each needle occurs: a list of
    (needle, mapping, address) triples."""
    hits = []
    overlap = max(len(n) for n in needles) - 1
    with open(f"/proc/{pid}/maps") as maps, \
            open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anon]"
            if ("r" not in fields[1] or name.startswith("[vvar") or
                    name == "[vsyscall]" or hi - lo > SCAN_MAPPING_MAX):
                continue
            tail = b""
            for at in range(lo, hi, SCAN_CHUNK):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(SCAN_CHUNK, hi - at))
                except (OSError, ValueError, OverflowError):
                    break
                for n in needles:
                    i = data.find(n)
                    if i >= 0:
                        hits.append((n, name, hex(at - len(tail) + i)))
                tail = data[-overlap:]
    return hits


def secrets_of(user, password):
    """The password as the client sends it in every form."""
    p = password.encode()
    u = user.encode()
    return [p, base64.b64encode(b"\0" + u + b"\0" + p),
            base64.b64encode(p)]


@pytest.mark.parametrize("how", ["login", "login-literal", "starttls",
                                 "plain-ir", "plain", "auth-login"])
def test_no_password_left_in_memory(server, mailuser, how):
    """Once logged in, neither the front nor the back (nor the PAM
    keeper) holds the password (in any form the client sent it)
    anywhere in its memory: not in a buffer, not in freed heap, not in
    the stack.  A failed attempt with
    another password first must leave no trace of that one either."""
    user, pw = mailuser.name, mailuser.password
    wrong = "wrong-" + pw[::-1]
    c = server.raw(tls=how != "starttls")
    c.line()
    if how == "starttls":
        assert c.cmd("s", "STARTTLS")[-1].startswith("s OK")
        c.starttls(server.tls_context())
    r = c.cmd("f", f"LOGIN {user} {wrong}")
    assert r[-1].startswith("f NO")
    u64 = base64.b64encode(user.encode()).decode()
    plain = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
    if how in ("login", "starttls"):
        r = c.cmd("a", f"LOGIN {user} {pw}")
    elif how == "login-literal":
        c.send(f"a LOGIN {user} {{{len(pw)}}}\r\n")
        assert c.line().startswith("+")
        c.send(f"{pw}\r\n")
        r = c.until_tagged("a")
    elif how == "plain-ir":
        r = c.cmd("a", f"AUTHENTICATE PLAIN {plain}")
    elif how == "plain":
        c.send("a AUTHENTICATE PLAIN\r\n")
        assert c.line().startswith("+")
        c.send(plain + "\r\n")
        r = c.until_tagged("a")
    else:
        c.send("a AUTHENTICATE LOGIN\r\n")
        assert c.line().startswith("+")
        c.send(u64 + "\r\n")
        assert c.line().startswith("+")
        c.send(base64.b64encode(pw.encode()).decode() + "\r\n")
        r = c.until_tagged("a")
    assert r[-1].startswith("a OK"), r
    assert c.cmd("n", "NOOP")[-1].startswith("n OK")
    back, front = session_pair(server)
    needles = secrets_of(user, pw) + secrets_of(user, wrong)
    # and not the PAM keeper, which ran PAM and keeps its handle
    for pid in {front, back, session_worker(back)}:
        assert memory_hits(pid, needles) == [], proc_comm(pid)
    # the scan can find what is there: this process's own copy
    assert memory_hits(os.getpid(), [pw.encode()]) != []
    # and neither password reaches the log
    assert pw not in server.log() and wrong not in server.log()
    c.cmd("z", "LOGOUT")


def test_no_userdb_password_left_in_memory(server, userdb):
    """The same for a userdb login, whose password the back hashes
    itself rather than handing it to PAM."""
    user, pw = userdb["user"], userdb["password"]
    wrong = "wrong-" + pw[::-1]
    c = server.raw(tls=True)
    c.line()
    assert c.cmd("f", f"LOGIN {user} {wrong}")[-1].startswith("f NO")
    assert c.cmd("a", f"LOGIN {user} {pw}")[-1].startswith("a OK")
    assert c.cmd("n", "NOOP")[-1].startswith("n OK")
    back, front = session_pair(server)
    assert session_worker(back) == back     # no PAM, no keeper
    needles = secrets_of(user, pw) + secrets_of(user, wrong)
    for pid in (front, back):
        assert memory_hits(pid, needles) == [], proc_comm(pid)
    assert pw not in server.log() and wrong not in server.log()
    c.cmd("z", "LOGOUT")
