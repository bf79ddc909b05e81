#!/usr/bin/python3
"""Where an idle logged-in session's memory goes.

Starts the in-tree imapd on free loopback ports (as the test suite does:
a throw-away mail user, a self-signed certificate, a userdb login), opens
--sessions idle logged-in sessions on the plain port and as many on the
TLS port, and prints for one session of each port, process by process,
/proc/PID/smaps_rollup (PSS split into private and shared, anonymous and
file-backed) and the mappings of /proc/PID/smaps grouped as heap, stack,
other anonymous memory and each file (library), with their PSS and
private dirty pages.  Run as root from the top of the tree after make:

    tests/bench/smaps.py [--sessions N] [--tls-process shared] [--build obj:.]

With many sessions open, the shared pages of the program and its
libraries are divided among many processes, so a session's PSS comes
close to what one more session costs.
"""

import argparse
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

import imapdtest  # noqa: E402

FIELDS = ("Pss", "Pss_Anon", "Pss_File", "Private_Clean", "Private_Dirty",
          "Shared_Clean", "Shared_Dirty", "Rss")


def rollup(pid):
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text() \
            .splitlines()[1:]:
        k, _, v = line.partition(":")
        if v.strip().endswith("kB"):
            out[k] = int(v.split()[0])
    return out


def mappings(pid):
    """{group: {field: KiB}} over the mappings of pid."""
    groups, cur = {}, None
    for line in pathlib.Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            path = head[5] if len(head) > 5 else ""
            if path == "[heap]":
                name = "heap"
            elif path.startswith("[stack"):
                name = "stack"
            elif path == "":
                name = "anonymous (mmap, TLS buffers, ...)"
            elif path.startswith("["):
                name = path
            else:
                name = pathlib.Path(path).name
            cur = groups.setdefault(name, {f: 0 for f in FIELDS})
            continue
        k, _, v = line.partition(":")
        if cur is not None and k in cur:
            cur[k] += int(v.split()[0])
    return groups


def report(role, pid):
    r = rollup(pid)
    priv = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
    print(f"  {role} (pid {pid}, {imapdtest.proc_comm(pid)}): "
          f"PSS {r.get('Pss', 0)} KiB = private {priv} + shared share "
          f"{r.get('Pss', 0) - priv}; anon {r.get('Pss_Anon', 0)}, "
          f"file {r.get('Pss_File', 0)}; RSS {r.get('Rss', 0)}")
    print(f"    {'mapping':40} {'PSS':>6} {'priv.dirty':>10} "
          f"{'priv.clean':>10} {'shared':>7}")
    groups = sorted(mappings(pid).items(), key=lambda kv: -kv[1]["Pss"])
    for name, g in groups:
        if g["Pss"] == 0 and g["Private_Dirty"] == 0:
            continue
        print(f"    {name[:40]:40} {g['Pss']:6} {g['Private_Dirty']:10} "
              f"{g['Private_Clean']:10} "
              f"{g['Shared_Clean'] + g['Shared_Dirty']:7}")
    return r.get("Pss", 0)


def new_backs(server, seen):
    found = [p for p in imapdtest.proc_descendants(server.proc.pid)
             if imapdtest.proc_comm(p) == "imapd-session"
             and p not in seen]
    return found


def front_of(back):
    near = imapdtest.proc_children(back)
    parent = imapdtest.proc_ppid(back)
    if imapdtest.proc_comm(parent) == "imapd-pam":
        near += imapdtest.proc_children(parent)
    return [p for p in near if imapdtest.proc_comm(p) == "imapd-login"]


def open_sessions(server, tls, n, user, password, seen):
    clients, backs = [], []
    for i in range(n):
        c = server.raw(tls=tls)
        c.line()
        out = c.cmd("a", f"LOGIN {user} {password}")
        if not out[-1].startswith("a OK"):
            raise SystemExit(f"login failed: {out[-1]}")
        c.cmd("b", "SELECT INBOX")
        clients.append(c)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        backs = new_backs(server, seen)
        if len(backs) >= n:
            break
        time.sleep(0.05)
    return clients, backs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20,
                    help="idle sessions per port (default 20)")
    ap.add_argument("--tls-process", default="per-session",
                    choices=("per-session", "shared"),
                    help="imapd's tls_process (default per-session); with "
                    "shared, the TLS process is shown too, with its share "
                    "per TLS session")
    ap.add_argument("--build", default="obj:.",
                    help="objdir:bindir of the build (default obj:.)")
    args = ap.parse_args()
    objdir, _, bindir = args.build.partition(":")
    build = imapdtest.Build("plain", ROOT / objdir, ROOT / bindir)
    work = imapdtest.make_workdir()
    user = imapdtest.make_mailuser(work)
    server = None
    try:
        cert = imapdtest.make_cert(work / "cert")
        userdb = imapdtest.make_userdb(work / "userdb", user)
        server = imapdtest.Server(
            build, work, cert, user, userdb,
            {"auth": "userdb", "allow_plaintext_auth": "yes",
             "max_sessions": str(2 * args.sessions + 10),
             "max_user_sessions": str(2 * args.sessions + 10),
             "max_user_sessions_per_address": str(2 * args.sessions + 10),
             "tls_process": args.tls_process},
            name="smaps")
        server.start()
        seen, held = set(), []
        for label, tls in (("plain port", False), ("TLS port", True)):
            clients, backs = open_sessions(
                server, tls, args.sessions, userdb["user"],
                userdb["password"], seen)
            held += clients
            seen.update(backs)
            time.sleep(1)  # let the last replies settle
            print(f"{label}: {len(backs)} idle logged-in sessions "
                  f"(SELECT INBOX done); one of them:")
            back = backs[-1]
            total = report("back", back)
            for f in front_of(back):
                total += report("front", f)
            if not front_of(back):
                print("  front: none (the back owns the client socket)")
            for t in imapdtest.proc_children(server.proc.pid):
                if tls and imapdtest.proc_comm(t) == "imapd-tls":
                    share = report("TLS process (all sessions)", t) // \
                        max(1, len(backs))
                    print(f"  TLS process, one session's share: {share} "
                          f"KiB")
                    total += share
            print(f"  session total PSS: {total} KiB\n")
        for c in held:
            c.close()
    finally:
        if server is not None:
            server.stop()
        user.remove()
        imapdtest.remove_tree(work)


if __name__ == "__main__":
    main()
