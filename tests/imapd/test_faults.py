"""Fault injection over the store: every call that writes to the file
system (tests/lib/fault_shim.c says which) is made to fail in turn, with
ENOSPC, EDQUOT or EIO, in an `imapd --stdio` session that does a first
SELECT of a folder with no cache, a FETCH and a SORT that fill the
structure and sort caches, APPEND and MULTIAPPEND, COPY, MOVE, STORE,
EXPUNGE, CREATE, RENAME, DELETE and SUBSCRIBE.  After each run:

  - the session answered every command OK, NO (with a response code, and
    for the command that met the fault one that says why: [OVERQUOTA]
    for a full disk or quota, [SERVERBUG] or [UNAVAILABLE] for EIO) or
    BAD, or ended with BYE; it did not crash;
  - what it answered OK to was done, and what it answered NO to was not,
    even in part: the folders hold exactly the messages a client that
    believed the answers would expect, every file in cur/ and new/ is a
    whole message, and nothing the server writes is left over;
  - a new session sees every folder with the UIDVALIDITY and the UIDs
    the first one was told, each message once, with the flags it was
    told, and no cache was found damaged;
  - and it works: APPEND, STORE and CREATE succeed.

`make check` makes each of the calls fail once with each of the three
errors (about 500 sessions, a minute on an idle two-core machine; the
sanitizer build takes the errors in turn, about 160 sessions, half a
minute) and fails if a session makes more than 300 such calls, so that
the sweep stays that size; with IMAPD_FAULT_SWEEP=full
each also fails from then on (a disk that stays full, a device that
stays broken) and twice in a row (a retry that fails too).
"""

import os
import pathlib
import re
import select
import shutil
import subprocess
import time

import pytest

import imapdtest

FULL = os.environ.get("IMAPD_FAULT_SWEEP") == "full"
ERRNOS = ("ENOSPC", "EIO", "EDQUOT")
WHY = {"ENOSPC": {"OVERQUOTA"}, "EDQUOT": {"OVERQUOTA"},
       "EIO": {"SERVERBUG", "UNAVAILABLE"}}


def msg(mid, subject):
    return (f"Message-ID: <{mid}@faults>\r\nSubject: {subject}\r\n"
            f"From: a@example.org\r\n\r\nbody of {mid}\r\n").encode()


MESSAGES = {m: msg(m, f"message {m}")
            for m in ("m1", "m2", "m3", "w1", "a1", "a2x", "a2y", "p1")}
BY_BYTES = {v: k for k, v in MESSAGES.items()}

# what a folder directory may hold besides cur/ new/ tmp/; a new
# journal waits beside a new snapshot when the rename between them failed
# (imapd-uidcache(5): the next writer puts it in place)
STATE_FILES = re.compile(r"^(maildirfolder|dovecot-keywords|subscriptions|"
                         r"imapd-uidcache\.(cdb|log|lock|log\.new)|"
                         r"imapd-uidvalidity(-max)?|imapd-msgcache\..*|"
                         r"imapd-sortcache|imapd-fts\.(index|log|lock)|"
                         r"imapd-special-use|imapd-mailboxid|maildirsize|"
                         r"imapd-maildirsize\.lock)$")


def build_shim(d):
    return imapdtest.build_fault_shim(d)


def make_template(d):
    """INBOX with three messages in new/ and no cache; Work with one."""
    md = d / "Maildir"
    for f in ("", ".Work"):
        for sub in ("cur", "new", "tmp"):
            (md / f / sub).mkdir(parents=True)
    (md / ".Work" / "maildirfolder").touch()
    for i, m in enumerate(("m1", "m2", "m3")):
        (md / "new" / f"170000000{i}.M{i}P1.faults").write_bytes(
            MESSAGES[m])
    (md / ".Work" / "cur" / "1700000010.M9P1.faults:2,S").write_bytes(
        MESSAGES["w1"])
    return md


class Stdio:
    """An `imapd --stdio` session driven one command at a time."""

    def __init__(self, build, conf, env, errpath):
        self.err = open(errpath, "ab")
        self.p = subprocess.Popen(
            [str(build.imapd), "-f", "--stdio", "-c", str(conf)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err, env=env)
        self.buf = b""
        self.eof = False
        self.n = 0
        self.greeting = self.line()

    def line(self, timeout=20):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from imapd --stdio")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    self.eof = True
                self.buf += chunk
        if b"\n" not in self.buf:
            return None
        l, _, self.buf = self.buf.partition(b"\n")
        return l.rstrip(b"\r").decode("utf-8", "replace")

    def cmd(self, text, *parts):
        """Send a command: text, then parts, each bytes sent as a {n+}
        literal or more text; return (status, code, lines) where status
        is OK, NO, BAD, or BYE when the session ended."""
        self.n += 1
        tag = "t%02d" % self.n
        data = f"{tag} {text}".encode()
        for p in parts:
            if isinstance(p, bytes):
                data += b" {%d+}\r\n" % len(p) + p
            else:
                data += p.encode()
        try:
            self.p.stdin.write(data + b"\r\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            return "BYE", None, []
        lines = []
        while True:
            l = self.line()
            if l is None:
                return "BYE", None, lines
            # a literal in a response: keep its bytes on the line
            m = re.search(r"\{(\d+)\}$", l)
            if m:
                while len(self.buf) < int(m.group(1)) and not self.eof:
                    r, _, _ = select.select([self.p.stdout], [], [], 20)
                    if not r:
                        raise TimeoutError("literal cut short")
                    chunk = os.read(self.p.stdout.fileno(), 65536)
                    self.eof = not chunk
                    self.buf += chunk
                n = int(m.group(1))
                l += self.buf[:n].decode("utf-8", "replace")
                self.buf = self.buf[n:]
                rest = self.line()
                l += rest or ""
            lines.append(l)
            if l.startswith(tag + " "):
                parts = l.split(" ", 2)
                c = re.match(r"\[([A-Z-]+)", parts[2] if len(parts) > 2
                             else "")
                return parts[1], c.group(1) if c else None, lines

    def close(self):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.p.wait(20)
        finally:
            self.err.close()
        return rc


def code_args(lines, code):
    """The arguments of the response code code in lines, as a list."""
    for l in lines:
        m = re.search(r"\[" + code + r" ([^\]]*)\]", l)
        if m:
            return m.group(1).split()
    return None


def uid_set(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


class Model:
    """What a client that believes every answer expects of the Maildir."""

    def __init__(self):
        self.folders = {"INBOX": {"m1": set(), "m2": set(), "m3": set()},
                        "Work": {"w1": {"\\Seen"}}}
        self.uids = {}          # (folder, mid) -> UID the client was told
        self.uidv = {}          # folder -> UIDVALIDITY it was told
        self.subscribed = set()

    def told_uidv(self, folder, v, problems, what):
        v = int(v)
        if self.uidv.setdefault(folder, v) != v:
            problems.append(f"{what}: UIDVALIDITY of {folder} changed "
                            f"from {self.uidv[folder]} to {v}")

    def rename(self, old, new):
        self.folders[new] = self.folders.pop(old)
        for (f, m), u in list(self.uids.items()):
            if f == old:
                self.uids[(new, m)] = self.uids.pop((f, m))
        if old in self.uidv:
            self.uidv[new] = self.uidv.pop(old)


def scenario(s, model, problems):
    """Run the commands; returns [(tag, command, status, code)]."""
    log = []

    def run(text, *lits):
        st, code, lines = s.cmd(text, *lits)
        log.append((s.n, text.split()[0] if text else "", st, code, lines))
        return st, code, lines

    inbox = {}
    st, _, lines = run("SELECT INBOX")
    selected = st == "OK"
    if selected:
        v = code_args(lines, "UIDVALIDITY")
        model.told_uidv("INBOX", v[0], problems, "SELECT")
        st, _, lines = run("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS "
                           "(MESSAGE-ID)])")
        for l in lines:
            m = re.match(r"\* \d+ FETCH \(UID (\d+) .*<(\w+)@faults>", l)
            if m:
                inbox[m.group(2)] = int(m.group(1))
                model.uids[("INBOX", m.group(2))] = int(m.group(1))
        # a cache that could not take the new messages' UIDs shows the
        # folder as it last knew it (mailbox.h), here empty: a client
        # can only work on what it was shown
        selected = len(inbox) == 3
    if selected:
        # the structure and sort caches are written too; they are only
        # caches, so a failure to write one fails no command
        for text, untagged in (
                ("FETCH 1:* (ENVELOPE BODYSTRUCTURE)", r"\* 3 FETCH "),
                ("UID SORT (SUBJECT) UTF-8 ALL", r"\* SORT \d+ \d+ \d+$")):
            st, _, lines = run(text)
            if st != "OK" or not any(re.match(untagged, l)
                                     for l in lines):
                problems.append(f"{text}: {lines[-2:]}")
    st, _, lines = run("APPEND INBOX (\\Flagged)", MESSAGES["a1"])
    if st == "OK":
        v, u = code_args(lines, "APPENDUID")
        model.told_uidv("INBOX", v, problems, "APPEND")
        model.folders["INBOX"]["a1"] = {"\\Flagged"}
        model.uids[("INBOX", "a1")] = int(u)
    st, _, lines = run("APPEND Work (\\Seen $Label1)", MESSAGES["a2x"],
                       " (\\Draft)", MESSAGES["a2y"])
    if st == "OK":
        v, u = code_args(lines, "APPENDUID")
        model.told_uidv("Work", v, problems, "MULTIAPPEND")
        got = uid_set(u)
        model.folders["Work"]["a2x"] = {"\\Seen", "$Label1"}
        model.folders["Work"]["a2y"] = {"\\Draft"}
        model.uids[("Work", "a2x")], model.uids[("Work", "a2y")] = got

    def copy(mid, move):
        """COPY or MOVE mid from INBOX to Work; a copy has the flags the
        client was told the message has."""
        c = "MOVE" if move else "COPY"
        st, _, lines = run(f"UID {c} {inbox[mid]} Work")
        if st != "OK":
            return
        v, src, dst = code_args(lines, "COPYUID")
        model.told_uidv("Work", v, problems, c)
        model.folders["Work"][mid] = set(model.folders["INBOX"][mid])
        model.uids[("Work", mid)] = int(dst)
        if move:
            del model.folders["INBOX"][mid]
            del model.uids[("INBOX", mid)]

    if selected:
        copy("m1", False)
        copy("m2", True)
        st, _, lines = run(f"UID STORE {inbox['m3']} +FLAGS.SILENT "
                           "(\\Seen $Junk)")
        if st == "OK":
            model.folders["INBOX"]["m3"] |= {"\\Seen", "$Junk"}
        copy("m3", False)
        st, _, lines = run(f"UID STORE {inbox['m1']} +FLAGS.SILENT "
                           "(\\Deleted)")
        if st == "OK":
            model.folders["INBOX"]["m1"].add("\\Deleted")
        st, _, lines = run(f"UID EXPUNGE {inbox['m1']}")
        if st == "OK" and "\\Deleted" in model.folders["INBOX"]["m1"]:
            del model.folders["INBOX"]["m1"]
            del model.uids[("INBOX", "m1")]
    st, _, _ = run("CREATE New/Sub")
    if st == "OK":
        model.folders["New/Sub"] = {}
    st, _, _ = run("RENAME Work Done")
    if st == "OK":
        model.rename("Work", "Done")
    st, _, _ = run("DELETE New/Sub")
    if st == "OK":
        model.folders.pop("New/Sub", None)
    st, _, _ = run("SUBSCRIBE Done")
    if st == "OK":
        model.subscribed.add("Done")
    run("LOGOUT")
    return log


def folder_dir(md, name):
    return md if name == "INBOX" else md / ("." + name.replace("/", "."))


def check_disk(md, model, problems):
    """Whole messages, where the answers put them, and no leftovers."""
    on_disk = {"INBOX"}
    for e in os.listdir(md):
        p = md / e
        if e.startswith(".") and p.is_dir():
            on_disk.add(e[1:].replace(".", "/"))
        elif e not in ("cur", "new", "tmp") and not STATE_FILES.match(e):
            problems.append(f"stray {e} in the Maildir")
    if on_disk != set(model.folders):
        problems.append(f"folders on disk {sorted(on_disk)}, expected "
                        f"{sorted(model.folders)}")
    for f in on_disk & set(model.folders):
        d = folder_dir(md, f)
        found = []
        for sub in ("cur", "new"):
            for n in os.listdir(d / sub):
                data = (d / sub / n).read_bytes()
                if data not in BY_BYTES:
                    problems.append(f"{f}/{sub}/{n}: not a whole message "
                                    f"({len(data)} bytes)")
                else:
                    found.append(BY_BYTES[data])
        if sorted(found) != sorted(model.folders[f]):
            problems.append(f"{f} holds {sorted(found)}, expected "
                            f"{sorted(model.folders[f])}")
        left = os.listdir(d / "tmp")
        if left:
            problems.append(f"{f}/tmp holds {left}")
        if f == "INBOX":
            continue        # the Maildir itself: looked at above
        for e in os.listdir(d):
            if e not in ("cur", "new", "tmp") and not STATE_FILES.match(e):
                problems.append(f"stray {e} in {f}")


def check_session(build, conf, errpath, model, problems):
    """A new session sees what the first one was told, and works."""
    s = Stdio(build, conf, build.env(), errpath)
    if s.greeting is None or not s.greeting.startswith("* PREAUTH"):
        problems.append(f"no session after the fault: {s.greeting}")
        s.close()
        return
    for f in sorted(model.folders):
        st, code, lines = s.cmd(f'SELECT "{f}"')
        if st != "OK":
            problems.append(f"SELECT {f} afterwards: {lines[-1:]}")
            continue
        v = int(code_args(lines, "UIDVALIDITY")[0])
        if f in model.uidv and model.uidv[f] != v:
            problems.append(f"{f}: UIDVALIDITY {v}, the client was told "
                            f"{model.uidv[f]}")
        st, code, lines = s.cmd("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER."
                                "FIELDS (MESSAGE-ID)])")
        seen = {}
        for l in lines:
            m = re.match(r"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) .*"
                         r"<(\w+)@faults>", l)
            if not m:
                continue
            mid = m.group(3)
            if mid in seen:
                problems.append(f"{f}: {mid} shown twice")
            flags = set(m.group(2).split()) - {"\\Recent"}
            seen[mid] = (int(m.group(1)), flags)
        if set(seen) != set(model.folders[f]):
            problems.append(f"{f}: a new session shows {sorted(seen)}, "
                            f"expected {sorted(model.folders[f])}")
        for mid, (uid, flags) in seen.items():
            told = model.uids.get((f, mid))
            if told is not None and told != uid:
                problems.append(f"{f}: {mid} has UID {uid}, the client "
                                f"was told {told}")
            if mid in model.folders[f] and flags != model.folders[f][mid]:
                problems.append(f"{f}: {mid} has flags {sorted(flags)}, "
                                f"expected {sorted(model.folders[f][mid])}")
    st, code, lines = s.cmd("LSUB \"\" \"*\"")
    subs = {m.group(1) for l in lines
            for m in [re.search(r'"/" "?([^"]*)"?$', l)] if m}
    if "Done" in model.subscribed and "Done" not in subs:
        problems.append("SUBSCRIBE Done was answered OK but is not in LSUB")
    for text, lits in (("APPEND INBOX", (MESSAGES["p1"],)),
                       ("CREATE After", ()), ("SELECT INBOX", ()),
                       ("STORE 1 +FLAGS (\\Answered $After)", ())):
        st, code, lines = s.cmd(text, *lits)
        if st != "OK":
            problems.append(f"{text} afterwards: {lines[-1:]}")
    rc = s.close()
    if rc != 0:
        problems.append(f"the checking session exited with {rc}")


def one_run(build, shim, base, tmpl, name, env_extra, expect_ok=False):
    """One faulted session and its checks; returns (problems, log,
    whether a call was made to fail)."""
    d = base / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    md = d / "Maildir"
    shutil.copytree(tmpl, md, symlinks=True)
    conf = d / "imapd.conf"
    conf.write_text(f"mail_location = {md}\nspecial_use =\n")
    env = build.env()
    env.update({"LD_PRELOAD": str(shim), "FAULT_PATH": str(md),
                "FAULT_LOG": str(d / "calls")})
    env.update(env_extra)
    problems, model = [], Model()
    s = Stdio(build, conf, env, d / "stderr")
    log = []
    if s.greeting is not None and s.greeting.startswith("* PREAUTH"):
        log = scenario(s, model, problems)
    rc = s.close()
    if rc != 0:
        problems.append(f"imapd exited with {rc}")
    for n, c, st, code, lines in log:
        if st == "NO" and code is None:
            problems.append(f"t{n:02d} {c}: NO without a response code: "
                            f"{lines[-1:]}")
        if expect_ok and st not in ("OK",) and c != "LOGOUT":
            problems.append(f"t{n:02d} {c} without a fault: {lines[-1:]}")
    calls = pathlib.Path(env["FAULT_LOG"])
    fired = calls.exists() and any(
        l.endswith(" FAIL") for l in calls.read_text().splitlines())
    check_disk(md, model, problems)
    check_session(build, conf, d / "stderr.check", model, problems)
    errs = (d / "stderr").read_text(errors="replace") + \
        (d / "stderr.check").read_text(errors="replace")
    for l in errs.splitlines():
        if "damaged" in l or "AddressSanitizer" in l or \
                "runtime error" in l:
            problems.append("log: " + l)
    if not problems:
        shutil.rmtree(d, ignore_errors=True)
    return problems, log, fired


def call_log(path):
    out = []
    for l in path.read_text().splitlines():
        n, cls, fn, rest = l.split(" ", 3)
        out.append((int(n), cls, fn, rest))
    return out


@pytest.fixture
def sweep_dir(workdir, build, request):
    """A fresh directory for one test and one build."""
    d = workdir / "faults" / build.name / request.node.originalname
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_fault_sweep(build, sweep_dir):
    shim = build_shim(sweep_dir)
    tmpl = make_template(sweep_dir / "template")
    # a run without faults: every command succeeds, and the shim counts
    # the calls that can fail
    calllog = sweep_dir / "calls"
    calllog.unlink(missing_ok=True)
    problems, log, _ = one_run(build, shim, sweep_dir, tmpl, "nofault",
                            {"FAULT_LOG": str(calllog)}, expect_ok=True)
    assert not problems, problems
    assert len(log) == 17, log
    calls = call_log(calllog)
    # about 160 today; the sweep runs three sessions per call (one for
    # the sanitizer build), so the cap bounds how long make check takes
    assert 100 < len(calls) <= 300, len(calls)
    classes = {c for _, c, _, _ in calls}
    assert classes >= {"write", "sync", "rename", "link", "create",
                       "truncate", "alloc", "mkdir"}, classes
    runs = []
    for n, _, _, _ in calls:
        # the sanitizer build, slower, takes the errors in turn
        for e in ERRNOS if not build.sanitized or FULL else \
                (ERRNOS[n % 3],):
            runs.append((n, e, "1"))
        if FULL:
            # a disk that stays full, a device that stays broken, and
            # a failure that hits the retry too
            runs += [(n, "ENOSPC", "0"), (n, "EIO", "0"), (n, "EIO", "2")]
    failures = []
    fired = 0
    for n, e, count in runs:
        what = calls[n - 1]
        problems, log, f = one_run(
            build, shim, sweep_dir, tmpl, f"n{n}-{e}-{count}",
            {"FAULT_NTH": str(n), "FAULT_ERRNO": e,
             "FAULT_COUNT": count})
        # the command that met the fault says why, if it says NO
        for _, c, st, code, lines in log:
            if st == "NO" and code not in WHY[e] and code not in (
                    "TRYCREATE", "NONEXISTENT", "ALREADYEXISTS",
                    "EXPUNGEISSUED"):
                problems.append(f"{c}: NO [{code}] for {e}")
        fired += f
        if problems:
            failures.append(f"call {n} ({' '.join(what[1:])}) failing "
                            f"with {e}" + (" from then on" if count == "0"
                                           else "") + ":\n  " +
                            "\n  ".join(problems))
    assert not failures, (f"{len(failures)} of {len(runs)} runs:\n" +
                          "\n".join(failures[:40]))
    # a run whose session made fewer calls than the one without faults
    # (a lock taken once less) tests nothing; the sweep must not be
    # mostly such runs
    assert fired >= 0.9 * len(runs), (fired, len(runs))


def test_copy_after_unrecorded_store(build, sweep_dir):
    """The disk fills while a STORE renames a file: the flag change is
    made (the name carries it) but INBOX's cache cannot record it, nor
    can the syncs after.  A COPY then still gives the copy the flags the
    client was told, and EXPUNGE still removes a message it was told is
    \\Deleted."""
    shim = build_shim(sweep_dir)
    tmpl = make_template(sweep_dir / "template-store")
    d = sweep_dir / "unrecorded"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    md = d / "Maildir"
    shutil.copytree(tmpl, md)
    conf = d / "imapd.conf"
    conf.write_text(f"mail_location = {md}\nspecial_use =\n")
    s = Stdio(build, conf, build.env(), d / "stderr")
    st, _, lines = s.cmd("SELECT INBOX")
    assert st == "OK", lines
    s.close()
    # from now on every write to INBOX's journal fails
    env = build.env()
    env.update({"LD_PRELOAD": str(shim), "FAULT_CALLS": "write",
                "FAULT_PATH": str(md / "imapd-uidcache.log"),
                "FAULT_NTH": "1", "FAULT_COUNT": "0"})
    s = Stdio(build, conf, env, d / "stderr")
    st, _, lines = s.cmd("SELECT INBOX")
    st, _, lines = s.cmd("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS "
                         "(MESSAGE-ID)])")
    uid = {m.group(2): m.group(1) for l in lines
           for m in [re.match(r"\* \d+ FETCH \(UID (\d+) .*<(\w+)@", l)]
           if m}
    st, _, lines = s.cmd(f"UID STORE {uid['m3']} +FLAGS (\\Seen $Junk)")
    assert st == "OK", lines
    st, _, lines = s.cmd(f"UID COPY {uid['m3']} Work")
    assert st == "OK", (lines, (d / "stderr").read_text().splitlines())
    st, _, lines = s.cmd(f"UID STORE {uid['m1']} +FLAGS (\\Deleted)")
    assert st == "OK", lines
    st, _, lines = s.cmd(f"UID EXPUNGE {uid['m1']}")
    assert st == "OK" and any(re.match(r"\* \d+ EXPUNGE", l)
                              for l in lines), lines
    s.close()
    # the STORE says it could not record what it did
    assert "cannot record flag changes" in \
        (d / "stderr").read_text()
    work = [n for n in os.listdir(md / ".Work" / "cur")
            if (md / ".Work" / "cur" / n).read_bytes() == MESSAGES["m3"]]
    assert len(work) == 1 and work[0].endswith(":2,Sa"), work
    inbox = [(md / sub / n).read_bytes() for sub in ("cur", "new")
             for n in os.listdir(md / sub)]
    assert MESSAGES["m1"] not in inbox


def test_multiappend_failure_commits_none(build, sweep_dir):
    """RFC 3502: a MULTIAPPEND whose third message cannot be placed (the
    disk fills as it moves from tmp/ into cur/) stores none of the three
    and uses up no UID; the folder takes all three afterwards."""
    shim = build_shim(sweep_dir)
    d = sweep_dir / "multiappend"
    shutil.rmtree(d, ignore_errors=True)
    md = make_template(d)
    conf = d / "imapd.conf"
    conf.write_text(f"mail_location = {md}\nspecial_use =\n")
    msgs = (MESSAGES["a1"], " (\\Seen)", MESSAGES["a2x"], MESSAGES["a2y"])

    def uidnext(s):
        st, _, lines = s.cmd("STATUS INBOX (MESSAGES UIDNEXT)")
        assert st == "OK", lines
        return re.search(r"MESSAGES \d+ UIDNEXT \d+", lines[0]).group(0)

    s = Stdio(build, conf, build.env(), d / "stderr")
    before = uidnext(s)
    s.close()
    env = build.env()
    env.update({"LD_PRELOAD": str(shim), "FAULT_CALLS": "rename",
                "FAULT_PATH": str(md / "tmp") + "/", "FAULT_NTH": "3",
                "FAULT_ERRNO": "ENOSPC"})
    s = Stdio(build, conf, env, d / "stderr")
    st, code, lines = s.cmd("APPEND INBOX", *msgs)
    assert (st, code) == ("NO", "OVERQUOTA"), lines
    assert uidnext(s) == before
    s.close()
    files = {m for m in os.listdir(md / "cur")} | \
        {m for m in os.listdir(md / "new")}
    assert all(MESSAGES["a1"] != p.read_bytes() for p in
               [md / "cur" / f for f in os.listdir(md / "cur")]), files
    assert os.listdir(md / "tmp") == []
    s = Stdio(build, conf, build.env(), d / "stderr")
    st, code, lines = s.cmd("APPEND INBOX", *msgs)
    assert st == "OK" and code == "APPENDUID", lines
    s.close()
