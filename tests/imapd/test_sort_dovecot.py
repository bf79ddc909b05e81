"""SORT and THREAD side by side with Dovecot on a generated Maildir of a
few thousand realistic messages (tests/lib/mkmaildir.py, with some broken
ones): every criterion, forward and REVERSE, several programs, searches
and both threading algorithms must give the same answer, number for
number.  Skipped where Dovecot is not installed (CI has none).

Dovecot runs as its imap process alone, pre-authenticated on a pipe, over
its own copy of the Maildir; imapd is the test server.  Known, deliberate
differences would be listed in tests/conformance/DIFFERENCES; there are
none for SORT and THREAD."""

import os
import pathlib
import grp
import pwd
import select
import shutil
import subprocess
import time

import pytest

import imapdtest
import mkmaildir
from imapdtest import Session

DOVECOT_IMAP = pathlib.Path("/usr/lib/dovecot/imap")

CRITERIA = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
            "DISPLAYFROM", "DISPLAYTO"]

COMMANDS = (
    ["SORT (%s) UTF-8 ALL" % c for c in CRITERIA] +
    ["SORT (REVERSE %s) UTF-8 ALL" % c for c in CRITERIA] +
    ["SORT (SUBJECT DATE) UTF-8 ALL",
     "SORT (REVERSE SUBJECT REVERSE DATE) UTF-8 ALL",
     "SORT (FROM REVERSE SIZE) UTF-8 ALL",
     "SORT (TO CC DISPLAYFROM) UTF-8 ALL",
     "SORT (REVERSE ARRIVAL SUBJECT) UTF-8 ALL",
     "SORT (DATE) UTF-8 UNSEEN",
     "SORT (SUBJECT) UTF-8 OR FLAGGED SUBJECT re",
     "UID SORT (REVERSE DATE) UTF-8 LARGER 20000",
     "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
     "THREAD ORDEREDSUBJECT UTF-8 ALL",
     "THREAD REFERENCES UTF-8 ALL",
     "UID THREAD REFERENCES UTF-8 ALL",
     "THREAD REFERENCES UTF-8 UNSEEN",
     "THREAD REFERENCES UTF-8 1:1500",
     "THREAD ORDEREDSUBJECT UTF-8 SINCE 1-Jun-2024",
     "THREAD REFERENCES UTF-8 NOT SUBJECT re"])

DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
mail_location = maildir:~/Maildir
mail_uid = {user}
mail_gid = {group}
first_valid_uid = 1
namespace inbox {{
  separator = /
  inbox = yes
}}
"""


def answers(lines, tags):
    """{tag: the untagged SORT/THREAD/ESEARCH line before it}"""
    out, cur = {}, None
    for l in lines:
        if l.startswith(("* SORT", "* THREAD", "* ESEARCH")):
            # the ESEARCH correlator names each server's own tag
            cur = l.split(")", 1)[1] if l.startswith("* ESEARCH") else l
        elif l.split(" ", 1)[0] in tags:
            out[l.split(" ", 1)[0]] = (cur, l.split()[1])
            cur = None
    return out


def dovecot_answers(workdir, user, home):
    d = workdir / "dovecot-sort"
    for sub in ("run", "state"):
        (d / sub).mkdir(parents=True, exist_ok=True)
        if imapdtest.IS_ROOT:
            os.chown(d / sub, user.uid, user.gid)
    conf = d / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(
        d=d, user=pwd.getpwuid(user.uid).pw_name,
        group=grp.getgrgid(user.gid).gr_name))
    p = subprocess.Popen([str(DOVECOT_IMAP), "-c", str(conf)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL,
                         env={"USER": user.name, "HOME": str(home),
                              "PATH": "/usr/bin:/bin"})
    fd, buf = p.stdout.fileno(), b""
    try:
        # one command at a time: pipelined, Dovecot holds its tagged
        # answers back until the untagged ones of later commands are out
        out = []
        for i, c in enumerate(["SELECT INBOX"] + COMMANDS):
            tag = "d%d" % i
            p.stdin.write(("%s %s\r\n" % (tag, c)).encode())
            p.stdin.flush()
            lines = []
            deadline = time.monotonic() + 300
            while not lines or not lines[-1].startswith(tag + " "):
                while b"\r\n" not in buf:
                    left = deadline - time.monotonic()
                    assert left > 0 and select.select([fd], [], [],
                                                      left)[0], \
                        "Dovecot did not answer %s" % c
                    data = os.read(fd, 1 << 20)
                    assert data, "Dovecot ended: %r" % lines[-3:]
                    buf += data
                l, buf = buf.split(b"\r\n", 1)
                lines.append(l.decode(errors="replace"))
            if i > 0:
                out.append(answers(lines, [tag]).get(tag))
        return out
    finally:
        p.stdin.close()
        p.wait(60)


@pytest.mark.skipif(not DOVECOT_IMAP.exists(), reason="Dovecot is not "
                    "installed (apt-get install dovecot-imapd)")
def test_sort_and_thread_agree_with_dovecot(server, mailuser, workdir):
    imapdtest.maildir_reset(mailuser)
    src = workdir / "sort-dovecot-src"
    shutil.rmtree(src, ignore_errors=True)
    mkmaildir.make(src / "Maildir", count=3000, seed=5, flags=True,
                   broken=3)
    shutil.copytree(src / "Maildir", mailuser.maildir(), symlinks=True)
    home = workdir / "sort-dovecot-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    shutil.copytree(src / "Maildir", home / "Maildir", symlinks=True)
    if imapdtest.IS_ROOT:
        for top in (mailuser.maildir(), home):
            for dirpath, dirs, files in os.walk(top):
                for n in [dirpath] + [os.path.join(dirpath, f)
                                      for f in files]:
                    os.chown(n, mailuser.uid, mailuser.gid)
    theirs = dovecot_answers(workdir, mailuser, home)

    s = Session(server, mailuser)
    s.ok("SELECT INBOX")
    ours = []
    for c in COMMANDS:
        r = s.cmd(c, timeout=300)
        got = answers(r, [r[-1].split()[0]])
        ours.append(got.get(r[-1].split()[0]))
    differ = ["%s:\n  imapd   %.300s\n  Dovecot %.300s" % (c, a, b)
              for c, a, b in zip(COMMANDS, ours, theirs) if a != b]
    assert not differ, "\n".join(differ)
    # the answers are not trivially alike: sorts of 3,000 messages
    assert ours[COMMANDS.index("SORT (SUBJECT) UTF-8 ALL")][0].count(" ") \
        == 3001
    assert ours[COMMANDS.index("THREAD REFERENCES UTF-8 ALL")][0].count(
        "((") > 10
