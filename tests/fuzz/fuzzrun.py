#!/usr/bin/python3
"""fuzzrun: run the libFuzzer targets of tests/fuzz.

  tests/fuzz/fuzzrun.py [--seconds N] [--only REGEX] [--objdir DIR]
                        [--jobs N] [--keep]

Each target (obj-fuzz/tests/fuzz/fuzz-<name>, built by `make fuzz-build`)
runs for N seconds (default 60) on its seed corpus (tests/fuzz/corpus/
<name>) and its regression inputs (tests/fuzz/regress/<name>), then a
line per target gives the executions, executions per second, coverage
and the result.  Inputs the fuzzer finds interesting are kept in
obj-fuzz/corpus/<name>, so a later run goes on from there; an input that
crashes is written to obj-fuzz/crashes/ and the run fails.  Add it to
tests/fuzz/regress/<name>/ once the bug is fixed, so that `make check`
runs it from then on.

`make check` runs the short pass of test_fuzz.py instead: every corpus
and regression input once, then a second of fuzzing, per target.
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "fuzz"

# The largest input the fuzzer makes, by target (a seed may be larger):
# room for a real message, a cache with a few dozen entries, a session.
MAX_LEN = {
    "authreq": 9000,            # past AUTHREQ_MAX (8192)
    "imap-parser": 16384,
    "message": 32768,
    "msgcache": 65536,
    "uidcache": 65536,
    "search": 4096,
    "import": 16384,
    "userdb": 8192,
    "config": 8192,
    "maildirsize": 8192,
    "imapresp": 16384,
    "keymsg": 1100,
    "thread": 16384,
}
DEFAULT_MAX_LEN = 4096
INPUT_TIMEOUT = 30      # seconds one input may take before it is a hang


def targets():
    return sorted(p.stem[len("fuzz-"):] for p in HERE.glob("fuzz-*.c"))


def binary(objdir, name):
    return pathlib.Path(objdir) / "tests" / "fuzz" / ("fuzz-" + name)


def env():
    e = dict(os.environ)
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return e


def command(objdir, name, seconds, workdir, crashdir, seed=None):
    """The libFuzzer command line: workdir first (new inputs go there),
    then the seed corpus and the regression inputs."""
    cmd = [str(binary(objdir, name)),
           "-max_total_time=%d" % seconds,
           "-timeout=%d" % INPUT_TIMEOUT,
           "-rss_limit_mb=2048",
           "-max_len=%d" % MAX_LEN.get(name, DEFAULT_MAX_LEN),
           "-print_final_stats=1",
           "-artifact_prefix=%s/%s-" % (crashdir, name)]
    if seed is not None:
        cmd.append("-seed=%d" % seed)
    cmd.append(str(workdir))
    for d in (HERE / "corpus" / name, HERE / "regress" / name):
        if d.is_dir():
            cmd.append(str(d))
    return cmd


def stats(out):
    """Executions, executions per second and coverage from the output."""
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    rate = re.findall(r"stat::average_exec_per_sec:\s*(\d+)", out)
    cov = re.findall(r"\bcov: (\d+) ft: (\d+)", out)
    return (int(runs[-1]) if runs else 0, int(rate[-1]) if rate else 0,
            cov[-1] if cov else ("?", "?"))


def run(objdir, name, seconds, workdir, crashdir, seed=None, timeout=None):
    """Run one target; (return code, output)."""
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(crashdir, exist_ok=True)
    cmd = command(objdir, name, seconds, workdir, crashdir, seed)
    p = subprocess.run(cmd, capture_output=True, env=env(),
                       timeout=timeout or seconds * 4 + 600)
    return p.returncode, p.stdout.decode(errors="replace") + \
        p.stderr.decode(errors="replace")


def crash_report(out, lines=60):
    """The part of libFuzzer's output that says what went wrong."""
    keep = [l for l in out.splitlines()
            if not l.startswith("#") and not l.startswith("INFO:")]
    for i, l in enumerate(keep):
        if ("ERROR:" in l or "runtime error" in l or
                "property failed" in l or "==" in l and "ERROR" in l):
            return "\n".join(keep[max(0, i - 5):i + lines])
    return "\n".join(keep[-lines:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--only", default="")
    ap.add_argument("--objdir", default=str(ROOT / "obj-fuzz"))
    ap.add_argument("--jobs", type=int, default=1,
                    help="targets run side by side")
    ap.add_argument("--keep", action="store_true",
                    help="go on after a target crashes")
    a = ap.parse_args()
    names = [n for n in targets() if re.search(a.only, n)]
    missing = [n for n in names if not os.access(binary(a.objdir, n),
                                                 os.X_OK)]
    if missing:
        sys.exit("not built (make fuzz-build): %s" % " ".join(missing))
    crashdir = pathlib.Path(a.objdir) / "crashes"
    failed = []
    queue = list(names)
    running = []
    print("%-12s %10s %8s %14s  %s" % ("target", "runs", "exec/s",
                                       "cov/features", "result"))
    while queue or running:
        while queue and len(running) < a.jobs:
            n = queue.pop(0)
            work = pathlib.Path(a.objdir) / "corpus" / n
            work.mkdir(parents=True, exist_ok=True)
            crashdir.mkdir(parents=True, exist_ok=True)
            log = tempfile.TemporaryFile()
            p = subprocess.Popen(command(a.objdir, n, a.seconds, work,
                                         crashdir),
                                 stdout=log, stderr=subprocess.STDOUT,
                                 env=env())
            running.append((n, p, log, time.monotonic()))
        time.sleep(0.2)
        for item in list(running):
            n, p, log, t0 = item
            if p.poll() is None:
                if time.monotonic() - t0 > a.seconds * 4 + 600:
                    p.kill()
                continue
            running.remove(item)
            log.seek(0)
            out = log.read().decode(errors="replace")
            log.close()
            runs, rate, (cov, ft) = stats(out)
            ok = p.returncode == 0
            print("%-12s %10d %8d %14s  %s" % (n, runs, rate,
                                               "%s/%s" % (cov, ft),
                                               "ok" if ok else "CRASH"))
            sys.stdout.flush()
            if not ok:
                failed.append(n)
                print(crash_report(out))
                if not a.keep:
                    queue.clear()
    if failed:
        sys.exit("fuzz: %s crashed; inputs in %s" % (" ".join(failed),
                                                      crashdir))


if __name__ == "__main__":
    main()
