"""Tests for tools/imapd-userdb, run as a real program.

The binary is the one of each build under test (the `build` fixture of
tests/conftest.py): the plain tree and the sanitizer tree.  Hashes the tool prints are checked with
Python's crypt module (present, though deprecated, in Debian's 3.11).
"""

import fcntl
import os
import pathlib
import select
import signal
import stat
import subprocess
import termios
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:
        crypt = None

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "imapd-userdb"

# shaped like a yescrypt hash; building never runs crypt
Y = "$y$j9T$F5Jx5fExrKuJdxDYUE7Ig/$ow0vVKC9rMz0mB9ZGNdqHqQzvvYYGX2MkcS2YY/DW2D"


@pytest.fixture(autouse=True)
def built(build):
    global TOOL
    TOOL = build.userdb_tool


def run(*args, input=None):
    return subprocess.run([str(TOOL), *map(str, args)], input=input,
                          capture_output=True, timeout=60)


def text(r):
    return r.stdout.decode(), r.stderr.decode()


def leftovers(d):
    return sorted(p.name for p in d.iterdir() if ".tmp." in p.name)


def checkhash(password, h):
    if crypt is None:
        pytest.skip("no crypt module to check hashes with")
    return crypt.crypt(password, h) == h


def test_build_and_lookup(tmp_path):
    src = tmp_path / "users"
    src.write_text("# virtual users\n"
                   "\n"
                   "   \n"
                   f"alice:{Y}:1000:1000:/home/alice\n"
                   "  # indented comment\n"
                   f"bob@example.org:{Y}:1001:100:/srv/bob:~/Mail\n"
                   f"erin:{Y}:1003:100:/srv/erin::5000000S,900C\n"
                   "carol:!:1002:100:/srv/carol")        # no final newline
    out = tmp_path / "db.cdb"
    r = run("-o", out, src)
    assert r.returncode == 0, r.stderr
    assert text(r) == (f"wrote {out}: 4 users\n", "")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []

    r = run("-l", out, "alice")
    assert r.returncode == 0
    assert text(r) == ("alice 1000 1000 /home/alice -\n", "")
    r = run("-l", out, "bob@example.org")
    assert text(r)[0] == "bob@example.org 1001 100 /srv/bob ~/Mail\n"
    r = run("-l", out, "carol")
    assert text(r)[0] == "carol 1002 100 /srv/carol -\n"
    assert "$" not in text(r)[0] and "!" not in text(r)[0]
    # a quota follows the maildir when there is one
    r = run("-l", out, "erin")
    assert text(r)[0] == "erin 1003 100 /srv/erin - 5000000S,900C\n"

    for name in ("dave", "Alice", "../alice", ""):
        r = run("-l", out, name)
        assert r.returncode == 1
        assert r.stdout == b""
        assert text(r)[1].startswith("imapd-userdb: ")
        assert "no such user" in text(r)[1]


def test_default_output_and_rebuild(tmp_path):
    src = tmp_path / "userdb"
    src.write_text(f"alice:{Y}:1000:1000:/home/alice\n")
    r = run(src)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "userdb.cdb"
    assert text(r)[0] == f"wrote {out}: 1 user\n"
    before = out.stat().st_ino

    # the rebuilt file replaces the old one by rename: a new inode
    src.write_text(f"bob:{Y}:1001:1001:/home/bob\n")
    r = run(src)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_ino != before
    assert run("-l", out, "bob").returncode == 0
    assert run("-l", out, "alice").returncode == 1
    assert leftovers(tmp_path) == []

    # an empty file makes an empty database
    src.write_text("# nobody yet\n")
    r = run(src)
    assert text(r)[0] == f"wrote {out}: 0 users\n"
    assert run("-l", out, "bob").returncode == 1


BAD = [
    ("-x:{Y}:1:1:/h", "name: must not start with - or ."),
    ("a b:{Y}:1:1:/h", "name: may hold only"),
    ("{long}:{Y}:1:1:/h", "name: longer than 255 bytes"),
    ("u:secret:1:1:/h", "hash: must be a crypt(3) hash"),
    ("u:$1$salt$hash:1:1:/h", "hash: method not supported"),
    ("u:$y$j9T:1:1:/h", "hash: incomplete"),
    ("u:{Y}:-5:1:/h", "uid: must be a number"),
    ("u:{Y}:1:4294967295:/h", "gid: must be a number"),
    ("u:{Y}:1:1:home", "home: must be an absolute path"),
    ("u:{Y}:1:1:/srv/../etc", "home: must not contain a .."),
    ("u:{Y}:1:1:/h:Maildir", "maildir: must be an absolute path"),
    ("u:{Y}:1:1:/h:~/../x", "maildir: must not contain a .."),
    ("u:{Y}:1:1", "home: missing"),
    ("u:{Y}:1:1:/h:/m:5S:x", "line: too many fields"),
    ("u:{Y}:1:1:/h:/m:x", "quota: must be a Maildir++ quota"),
    ("u:{Y}:1:1:/h\tx", "home: contains a control character"),
    ("u:{Y}:1:1:/h\r", "line: ends with a carriage return"),
]


@pytest.mark.parametrize("line,why", BAD)
def test_bad_line(tmp_path, line, why):
    line = line.replace("{Y}", Y).replace("{long}", "n" * 256)
    src = tmp_path / "users"
    src.write_text(f"# first\nok:{Y}:1:1:/h\n{line}\n")
    out = tmp_path / "users.cdb"
    r = run(src)
    assert r.returncode == 1
    assert r.stdout == b""
    err = text(r)[1]
    assert f"imapd-userdb: {src}:3: {why}" in err
    assert "nothing written" in err
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_all_errors_reported_and_old_db_kept(tmp_path):
    src = tmp_path / "users"
    src.write_text(f"alice:{Y}:1000:1000:/home/alice\n")
    out = tmp_path / "users.cdb"
    assert run(src).returncode == 0
    before = out.read_bytes()

    src.write_text("bad1\n"
                   f"ok:{Y}:1:1:/h\n"
                   f"u:{Y}:x:1:/h\n"
                   f"v:{Y}:1:1:rel\n")
    r = run(src)
    assert r.returncode == 1
    err = text(r)[1]
    assert f"{src}:1: hash: missing" in err
    assert f"{src}:3: uid: must be a number" in err
    assert f"{src}:4: home: must be an absolute path" in err
    assert "3 errors, nothing written" in err
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_duplicates_name_both_lines(tmp_path):
    src = tmp_path / "users"
    src.write_text(f"alice:{Y}:1000:1000:/home/alice\n"
                   f"bob:{Y}:1001:1001:/home/bob\n"
                   "# again\n"
                   f"alice:{Y}:1002:1002:/home/alice2\n")
    r = run("-o", tmp_path / "x.cdb", src)
    assert r.returncode == 1
    err = text(r)[1]
    assert f"{src}:4: name: alice is already defined on line 1" in err
    assert not (tmp_path / "x.cdb").exists()
    assert leftovers(tmp_path) == []


def test_uid_zero_warns(tmp_path):
    src = tmp_path / "users"
    src.write_text(f"root:{Y}:0:0:/root\n")
    r = run(src)
    assert r.returncode == 0
    assert f"{src}:1: warning: uid: 0 is root" in text(r)[1]


def test_missing_input_and_same_output(tmp_path):
    r = run(tmp_path / "nonexistent")
    assert r.returncode == 1
    assert text(r)[1].startswith("imapd-userdb: cannot open ")
    assert list(tmp_path.iterdir()) == []

    src = tmp_path / "users"
    src.write_text(f"alice:{Y}:1000:1000:/home/alice\n")
    r = run("-o", src, src)
    assert r.returncode == 1
    assert "overwrite the input" in text(r)[1]
    assert src.read_text().startswith("alice:")


def test_lookup_errors(tmp_path):
    r = run("-l", tmp_path / "none.cdb", "alice")
    assert r.returncode == 1
    assert text(r)[1].startswith("imapd-userdb: cannot open ")
    notcdb = tmp_path / "users"
    notcdb.write_text(f"alice:{Y}:1000:1000:/home/alice\n")
    r = run("-l", notcdb, "alice")
    assert r.returncode == 1
    assert "not a valid cdb file" in text(r)[1]


def test_password_from_stdin(tmp_path):
    r = run("-p", input=b"correct horse\n")
    assert r.returncode == 0, r.stderr
    h = text(r)[0].rstrip("\n")
    assert text(r)[0].count("\n") == 1
    assert h.startswith("$y$")
    assert checkhash("correct horse", h)
    assert not checkhash("correct horse\n", h)

    # the hash is one the database accepts
    src = tmp_path / "users"
    src.write_text(f"alice:{h}:1000:1000:/home/alice\n")
    assert run(src).returncode == 0


@pytest.mark.parametrize("data,password", [
    (b"pw with spaces\r\n", "pw with spaces"),
    (b"no newline", "no newline"),
    (b"first\nsecond\n", "first"),
    (b"x" * 511 + b"\n", "x" * 511),
])
def test_password_lines(data, password):
    r = run("-p", "-m", "sha512", input=data)
    assert r.returncode == 0, r.stderr
    h = text(r)[0].rstrip("\n")
    assert h.startswith("$6$")
    assert checkhash(password, h)


def test_sha512_and_fresh_salt():
    a = text(run("-p", "-m", "sha512", input=b"pw\n"))[0]
    b = text(run("-p", "-m", "sha512", input=b"pw\n"))[0]
    assert a.startswith("$6$") and b.startswith("$6$")
    assert a != b
    c = text(run("-p", "-m", "yescrypt", input=b"pw\n"))[0]
    assert c.startswith("$y$")


@pytest.mark.parametrize("data,why", [
    (b"", "no password given"),
    (b"\n", "empty password"),
    (b"\r\n", "empty password"),
    (b"x" * 512 + b"\n", "password longer than 511 bytes"),
    (b"x" * 1025 + b"\n", "password longer than 511 bytes"),
    (b"a\0b\n", "password contains a NUL byte"),
])
def test_password_refused(data, why):
    r = run("-p", input=data)
    assert r.returncode == 1
    assert r.stdout == b""
    assert text(r)[1] == f"imapd-userdb: {why}\n"


@pytest.mark.parametrize("args", [
    [],
    ["a", "b"],
    ["-x"],
    ["-p", "file"],
    ["-p", "-o", "x.cdb"],
    ["-p", "-m", "md5"],
    ["-m", "sha512", "file"],
    ["-l", "db.cdb"],
    ["-l", "db.cdb", "a", "b"],
    ["-l", "db.cdb", "-o", "x", "a"],
    ["-o"],
])
def test_bad_usage(args):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == b""
    assert "usage: imapd-userdb" in text(r)[1]


def test_help():
    r = run("-h")
    assert r.returncode == 0
    assert text(r)[0].startswith("usage: imapd-userdb")


# --- the terminal path, on a pseudo-terminal --------------------------------

def ttyrun(answers):
    """Run -p with a pty as stdin and controlling terminal; answer each
    prompt in turn (an int answer is a signal to send instead).  Returns (returncode, stdout, stderr, what the terminal
    showed, whether echo is on afterwards)."""
    master, slave = os.openpty()

    def child():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([str(TOOL), "-p"], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child)
    shown = b""
    try:
        for a in answers:
            deadline = time.monotonic() + 20
            while not shown.rstrip().endswith(b":"):
                left = deadline - time.monotonic()
                assert left > 0, shown
                if select.select([master], [], [], left)[0]:
                    shown += os.read(master, 1024)
            if isinstance(a, int):
                p.send_signal(a)
                break
            os.write(master, a)
            shown += b"|"
        out, err = p.communicate(timeout=30)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        echo = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)
    return p.returncode, out.decode(), err.decode(), shown.decode(), echo


def test_password_on_terminal():
    rc, out, err, shown, echo = ttyrun([b"tty secret\n", b"tty secret\n"])
    assert rc == 0, err
    assert "Password:" in shown and "Again:" in shown
    assert "tty secret" not in shown
    assert echo
    assert out.startswith("$y$")
    assert checkhash("tty secret", out.rstrip("\n"))


def test_password_on_terminal_mismatch():
    rc, out, err, shown, echo = ttyrun([b"one\n", b"two\n"])
    assert rc == 1
    assert out == ""
    assert err == "imapd-userdb: the passwords do not match\n"
    assert echo


def test_terminal_restored_after_signal():
    rc, out, err, shown, echo = ttyrun([signal.SIGINT])
    assert rc == -signal.SIGINT
    assert out == ""
    assert echo
