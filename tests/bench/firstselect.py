#!/usr/bin/python3
"""make bench-select: the first SELECT of a large folder beside the
kernel's floor.

A folder nobody has opened yet (no UID cache), with --cur files in cur/
and --new files in new/, is selected by `imapd --stdio` (a pre-
authenticated session on pipes: no network, no login, so only the
SELECT is timed: from the command's last byte to its tagged OK).  Beside
it, the floor: the time getdents64() alone takes to read the same two
directories, in a state just like the one imapd met (a fresh hard-linked
copy), with no name parsed.  The ratio of the two is what the server
adds to the kernel.

    make bench-select                                   100,000 files
    make bench-select BENCH_SELECT_ARGS="--cur 9800 --new 200 --runs 5"

Each figure is the best of --runs (on a shared machine noise only adds)
and is printed with its spread.  The source Maildir is kept under
bench/work/select/ and every run works on a fresh `cp -al` copy of it;
the files are small (the SELECT reads no message), their names are the
ones MTAs give (with S= and W=), and their times are a day old.  Runs as
any user.
"""

import argparse
import ctypes
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAPD = ROOT / "imapd" / "imapd"
WORK = ROOT / "bench" / "work" / "select"

SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61, "riscv64": 61,
                  "ppc64le": 202, "s390x": 220}
DAY = 24 * 3600
TIMEOUT = 600                   # seconds one SELECT may take


def corpus(ncur, nnew):
    """The source Maildir: ncur files in cur/, nnew in new/."""
    d = WORK / ("c%d-n%d" % (ncur, nnew))
    if (d / "done").exists():
        return d / "Maildir"
    shutil.rmtree(d, ignore_errors=True)
    md = d / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    body = b"From: a@example.org\nSubject: x\n\nhello\n"
    t0 = int(time.time()) - 30 * DAY
    old = time.time() - DAY
    for i in range(ncur + nnew):
        base = "%d.M%dP%dQ%d.bench,S=%d,W=%d" % (t0 + i // 10, i * 7 % 10 ** 6,
                                                 4000 + i % 3000, i,
                                                 len(body), len(body) + 3)
        p = md / "new" / base if i >= ncur else \
            md / "cur" / (base + (":2,S" if i % 3 else ":2,"))
        with open(p, "wb") as f:
            f.write(body)
        os.utime(p, (old, old))
    for sub in ("cur", "new", "tmp"):
        os.utime(md / sub, (old, old))
    (d / "done").touch()
    return md


def fresh_copy(src, dst):
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)


def getdents_floor(md):
    """Seconds getdents64() takes to read cur/ and new/ of md, with the
    same 256 KiB buffer imapd uses."""
    nr = SYS_GETDENTS64.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    size = 256 * 1024
    buf = ctypes.create_string_buffer(size)
    fds = [os.open(md / sub, os.O_RDONLY | os.O_DIRECTORY)
           for sub in ("new", "cur")]
    try:
        t0 = time.perf_counter()
        for fd in fds:
            while True:
                n = libc.syscall(nr, fd, buf, size)
                if n < 0:
                    raise OSError(ctypes.get_errno(), "getdents64")
                if n == 0:
                    break
        return time.perf_counter() - t0
    finally:
        for fd in fds:
            os.close(fd)


def read_until(p, tag):
    """Lines from imapd until the one tagged tag; that line."""
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("imapd closed the session before %s" % tag)
        if line.startswith(tag + b" "):
            return line


def first_select(imapd, md, conf):
    """Seconds from SELECT to its tagged OK, and the EXISTS count."""
    p = subprocess.Popen([str(imapd), "--stdio", "-c", str(conf)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        if not p.stdout.readline().startswith(b"* PREAUTH"):
            raise RuntimeError("no PREAUTH greeting")
        exists = None
        p.stdin.write(b"a SELECT INBOX\r\n")
        t0 = time.perf_counter()
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("imapd closed the session")
            if line.endswith(b" EXISTS\r\n"):
                exists = int(line.split()[1])
            if line.startswith(b"a "):
                break
        t = time.perf_counter() - t0
        if not line.startswith(b"a OK"):
            raise RuntimeError("SELECT: %r" % line)
        p.stdin.write(b"b LOGOUT\r\n")
        p.stdin.flush()
        read_until(p, b"b")
        p.wait(timeout=TIMEOUT)
        return t, exists
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def spread(xs, scale, unit):
    return "best %.1f %s (median %.1f, worst %.1f)" % (
        min(xs) * scale, unit, statistics.median(xs) * scale,
        max(xs) * scale)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cur", type=int, default=98000)
    ap.add_argument("--new", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--imapd", default=str(IMAPD))
    a = ap.parse_args()
    src = corpus(a.cur, a.new)
    copy = WORK / "run" / "Maildir"
    conf = WORK / "run.conf"
    conf.write_text("mail_location = %s\nsearch_index = no\n" % copy)
    sel, floor = [], []
    for _ in range(max(1, a.runs)):
        fresh_copy(src, copy)
        f = getdents_floor(copy)
        if f is not None:
            floor.append(f)
        fresh_copy(src, copy)
        t, exists = first_select(a.imapd, copy, conf)
        if exists != a.cur + a.new:
            sys.exit("SELECT said %s EXISTS, expected %d" %
                     (exists, a.cur + a.new))
        left = len(os.listdir(copy / "new"))
        sel.append(t)
    print("first SELECT, %d files in cur/ and %d in new/, %d runs"
          % (a.cur, a.new, len(sel)))
    print("  imapd SELECT:        " + spread(sel, 1000, "ms"))
    if floor:
        print("  getdents64 floor:    " + spread(floor, 1000, "ms"))
        print("  ratio to the floor:  %.2f (best to best)"
              % (min(sel) / min(floor)))
    print("  left in new/ after LOGOUT: %d" % left)
    shutil.rmtree(copy.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
