"""Privilege separation and real PAM, checked from /proc.

As root (as CI runs): the master stays root, idle workers wait, the front
of a live session runs as login_user inside the empty chroot, and the back
runs as the mail user with exactly that user's uid and groups.  Account
state (expired, locked) is honoured through pam_acct_mgmt and the log says
which.  As an ordinary user the same PAM code path runs through
pam_wrapper; those checks are in test_daemon.py."""

import os
import pwd
import subprocess
import time

import pytest

import imapdtest
from imapdtest import proc_comm, proc_status, wait_children

pytestmark = pytest.mark.skipif(not imapdtest.IS_ROOT,
                                reason="needs root to create users")


def ids(status, key):
    return [int(x) for x in status[key].split()]


def fds(pid):
    """What pid's descriptors above stderr point at (sockets, pipes)."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if int(fd) > 2:
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def test_process_tree(server, mailuser):
    master = server.proc.pid
    st = proc_status(master)
    assert ids(st, "Uid") == [0, 0, 0, 0]
    assert proc_comm(master) == "imapd-master"
    prefork = int(server.settings["prefork"])
    assert len(wait_children(master, "imapd-idle", prefork)) >= prefork

    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)

    # a session that has not logged in yet: back is root, front confined
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
