#!/usr/bin/python3
"""make conformance: every script of tests/conformance/scripts against imapd
and against a private Dovecot (Debian's dovecot-imapd, installed with
apt-get if missing), on loopback, and a table of the results.

    make conformance                                all scripts (root)
    make conformance CONFORMANCE_ARGS="--only qresync-"
    make conformance CONFORMANCE_ARGS="--server imapd -v"

Each cell of the table is one of
    pass     every expectation met
    FAIL     the line and what the server sent instead
    known    failed at a line DIFFERENCES lists for that server
    stale    passed although DIFFERENCES lists a line for that server
    skip     the script requires a capability the server lacks
The exit status is 1 if any cell is FAIL or stale, 0 otherwise.
"""

import argparse
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "lib"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

import imapdtest  # noqa: E402
import imapscript  # noqa: E402
import servers  # noqa: E402


def log(msg):
    print("conformance: " + msg, file=sys.stderr, flush=True)


def run_all(scripts, targets, diffs, verbose):
    """{script name: {server: (class, detail, outcome)}}"""
    results = {}
    for idx, sc in enumerate(scripts):
        login = servers.login_name(idx)
        row = {}
        for name, (make_target, caps, reports) in targets.items():
            target = make_target(login)
            target.capabilities = caps
            t0 = time.monotonic()
            before = len(reports())
            out = imapscript.Runner(sc, target).run()
            cls, detail = imapscript.classify(out, sc, name, diffs)
            found = reports()[before:]
            if found:
                # a sanitizer report fails the script whatever it showed
                cls, detail = "fail", "sanitizer: " + "; ".join(found)
            row[name] = (cls, detail, out, time.monotonic() - t0)
            if verbose or cls in ("fail", "stale"):
                show(sc, name, cls, detail, out, verbose)
        results[sc.name] = row
    return results


def show(sc, server, cls, detail, out, verbose):
    print("--- %s on %s: %s%s" % (sc.name, server, cls,
                                  " at line %s" % out.lineno
                                  if out.lineno else ""))
    if detail:
        print("    " + detail)
    if out.transcript and (verbose or cls == "fail"):
        for line in out.transcript.split("\n")[-40:]:
            print("      " + line)


CELL = {"pass": "pass", "fail": "FAIL", "known": "known", "stale": "stale",
        "skip": "skip"}


def table(scripts, results, servers_):
    width = max(len(s.name) for s in scripts) + 2
    head = "%-*s" % (width, "script") + "".join(
        "%-12s" % s for s in servers_)
    lines = [head, "-" * len(head)]
    for sc in scripts:
        row = results[sc.name]
        cells = []
        for s in servers_:
            cls, detail, out, _ = row[s]
            cell = CELL[cls]
            if detail.startswith("sanitizer: "):
                cell += "(san)"
            elif cls in ("fail", "known") and out.lineno:
                cell += ":%d" % out.lineno
            if row[s][3] >= 2:
                cell += " %.0fs" % row[s][3]
            cells.append("%-12s" % cell)
        lines.append("%-*s" % (width, sc.name) + "".join(cells))
    lines.append("-" * len(head))
    for s in servers_:
        counts = {}
        for sc in scripts:
            c = results[sc.name][s][0]
            counts[c] = counts.get(c, 0) + 1
        lines.append("%s: %s" % (s, ", ".join(
            "%d %s" % (n, k) for k, n in sorted(counts.items()))))
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="regex on script names")
    ap.add_argument("--server", choices=("imapd", "dovecot", "both"),
                    default="both")
    ap.add_argument("--build", default="plain=obj:.",
                    help='imapd build as "name=objdir:bindir" '
                    '(default plain=obj:.)')
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show every result with its transcript")
    args = ap.parse_args(argv)

    scripts = imapscript.all_scripts(args.only)
    if not scripts:
        log("no scripts match")
        return 2
    diffs = imapscript.Differences()
    problems = diffs.check(imapscript.all_scripts())
    if problems:
        log("DIFFERENCES has problems:\n  " + "\n  ".join(problems))
        return 2
    want_dovecot = args.server in ("dovecot", "both")
    want_imapd = args.server in ("imapd", "both")
    if want_dovecot:
        if os.geteuid() != 0:
            log("Dovecot needs root (it runs its own privilege separation); "
                "use --server imapd, or run as root")
            return 2
        import bench
        bench.ensure_dovecot()
        bench.quiet_system_dovecot()

    name, _, dirs = args.build.partition("=")
    objdir, _, bindir = dirs.partition(":")
    build = imapdtest.Build(name, ROOT / objdir, ROOT / bindir)
    for p in (build.imapd, build.userdb_tool):
        if not os.access(p, os.X_OK):
            log("%s is not built; run make first" % p)
            return 2

    workdir = imapdtest.make_workdir()
    mailuser = None
    running = []
    try:
        cert = imapdtest.make_cert(workdir / "tls")
        mailuser = imapdtest.make_mailuser(workdir)
        homes = servers.Homes(workdir / "homes", mailuser.uid, mailuser.gid)
        logins = [servers.login_name(i) for i in range(len(scripts))]
        logins.append("cfcaps")
        targets = {}
        versions = {}
        if want_imapd:
            udb = servers.imapd_userdb(build, workdir, logins, homes,
                                       mailuser.uid, mailuser.gid)
            srv = servers.start_imapd(build, workdir, cert, mailuser, udb)
            running.append(srv)

            def imapd_target(login, srv=srv):
                return servers.imapd_target(
                    srv, login, homes.fresh("imapd", login), mailuser)
            caps = imapscript.capabilities(imapd_target("cfcaps"))
            targets["imapd"] = (imapd_target, caps, srv.sanitizer_reports)
            versions["imapd"] = build.name + " build"
        if want_dovecot:
            dv = servers.DovecotServer(workdir, cert, logins, homes,
                                       mailuser.uid, mailuser.gid)
            dv.start()
            running.append(dv)

            def dovecot_target(login, dv=dv):
                return dv.target(login, homes.fresh("dovecot", login))
            caps = imapscript.capabilities(dovecot_target("cfcaps"))
            targets["dovecot"] = (dovecot_target, caps, lambda: [])
            versions["dovecot"] = dv.version()
        log("running %d scripts against %s" % (
            len(scripts), ", ".join("%s (%s)" % (k, versions[k])
                                    for k in targets)))
        t0 = time.monotonic()
        results = run_all(scripts, targets, diffs, args.verbose)
        elapsed = time.monotonic() - t0
        print()
        print(table(scripts, results, list(targets)))
        for k in targets:
            spent = sum(results[s.name][k][3] for s in scripts)
            print("%s: %.1f s" % (k, spent))
        print("total %.1f s" % elapsed)
        bad = any(results[s.name][k][0] in ("fail", "stale")
                  for s in scripts for k in targets)
        return 1 if bad else 0
    finally:
        for srv in running:
            srv.stop()
        if mailuser is not None:
            mailuser.remove()
        if os.environ.get("CONFORMANCE_KEEP"):
            log("kept " + str(workdir))
        else:
            imapdtest.remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
