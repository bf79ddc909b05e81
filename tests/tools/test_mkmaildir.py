"""Tests for tests/lib/mkmaildir.py, the Maildir++ generator of the test
suite and benchmark.  Pure Python: none of these needs the C build, so none
takes the `build` fixture and each runs once."""

import email
import email.policy
import json
import mailbox
import os
import pathlib
import re
import subprocess
import sys

import pytest

import mkmaildir

TOOL = pathlib.Path(mkmaildir.__file__)
ARGS = dict(count=400, seed=5, folders=len(mkmaildir.FOLDERS) + 1, new=10,
            flags=True, keywords=True, broken=5)
NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.([a-z.]+),S=(\d+),W=(\d+)"
                  r"(:2,([A-Za-z]*))?$")


def files(root):
    """{relative path: (bytes, mtime)} of every regular file under root."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (fh.read(),
                                                 os.stat(p).st_mtime_ns)
    return out


def messages(root):
    """[(folder dir, sub, name, bytes)] of every message file."""
    out = []
    for d, _, names in os.walk(root):
        sub = os.path.basename(d)
        if sub not in ("cur", "new", "tmp"):
            continue
        for n in sorted(names):
            with open(os.path.join(d, n), "rb") as fh:
                folder = os.path.relpath(os.path.dirname(d), root)
                out.append((folder, sub, n, fh.read()))
    return out


def msgid_of(data):
    m = re.search(rb"^Message-ID:\s*(<[^>\s]+>)", data, re.M | re.I)
    return m.group(1).decode() if m else None


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mk") / "Maildir"
    summary = mkmaildir.make(root, **ARGS)
    return root, summary


@pytest.fixture(scope="module")
def msgs(tree):
    return messages(tree[0])


def test_same_arguments_same_bytes_names_and_mtimes(tree, tmp_path):
    root, summary = tree
    again = mkmaildir.make(tmp_path / "again", **ARGS)
    assert files(root) == files(tmp_path / "again")
    summary = dict(summary, path=None)
    assert dict(again, path=None) == summary
    other = mkmaildir.make(tmp_path / "other", **dict(ARGS, seed=6))
    assert other["inbox_first"] != summary["inbox_first"]
    assert set(files(tmp_path / "other")) != set(files(root))


def test_layout(tree):
    root, s = tree
    specs = mkmaildir._folder_specs(ARGS["folders"])
    names = [mkmaildir.mutf7(f[0]) for f in specs]
    assert "Entw&APw-rfe" in names and "Lists/dev" in names
    assert (root / "subscriptions").read_text() == \
        "".join(n + "\n" for n in names)
    assert list(s["folders"]) == ["INBOX"] + names
    for name, st in s["folders"].items():
        d = root / st["dir"]
        want = "." if name == "INBOX" else "." + name.replace("/", ".")
        assert st["dir"] == want
        for sub in ("cur", "new", "tmp"):
            assert (d / sub).is_dir()
        assert not any((d / "tmp").iterdir())
        assert (d / "maildirfolder").exists() == (name != "INBOX")
        kw = (d / "dovecot-keywords").read_text()
        assert kw == "0 $Forwarded\n1 $Junk\n2 $NotJunk\n3 Work\n4 Personal\n"
        assert st["messages"] >= 1       # count > folders: none is empty
    assert (root / ".Projects.2026.Q4").is_dir()
    assert not (root / ".Projects").exists()        # an implied parent


def test_mutf7():
    assert mkmaildir.mutf7("Entwürfe") == "Entw&APw-rfe"
    assert mkmaildir.mutf7("Rechnungen & Belege") == "Rechnungen &- Belege"
    assert mkmaildir.mutf7("日本語") == "&ZeVnLIqe-"
    assert mkmaildir.mutf7("Sent") == "Sent"


def test_names_sizes_flags_and_mtimes(tree, msgs):
    root, s = tree
    bases = set()
    for folder, sub, name, data in msgs:
        assert sub != "tmp"
        m = NAME.match(name)
        assert m, name
        secs, size, vsize = int(m[1]), int(m[6]), int(m[7])
        info, fl = m[8], m[9]
        assert size == len(data)
        crlf = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert vsize == len(crlf)
        assert os.stat(root / folder / sub / name).st_mtime == secs
        assert int(m[2]) < 1000000
        if sub == "new":
            assert info is None and folder == "."
        else:
            assert info is not None
            assert fl == "".join(sorted(fl)) and set(fl) <= set("DFPRSTabcde")
            if "P" in fl:
                assert "a" in fl
        base = name.split(":2,")[0]
        assert base not in bases
        bases.add(base)
    assert len(msgs) == ARGS["count"]
    flags = [n.split(":2,")[1] for _, sub, n, _ in msgs if sub == "cur"]
    assert sum("S" in f for f in flags) > len(flags) // 2
    assert any("T" in f for f in flags) and any("R" in f for f in flags)
    drafts = [n.split(":2,")[1] for f, sub, n, _ in msgs if f == ".Drafts"]
    assert drafts and all("D" in f for f in drafts)
    junk = [n.split(":2,")[1] for f, sub, n, _ in msgs if f == ".Junk"]
    assert any("b" in f for f in junk)


def test_new_holds_the_newest_inbox_messages(tree, msgs):
    _, s = tree
    inbox = sorted((n, sub) for f, sub, n, _ in msgs if f == ".")
    nnew = s["folders"]["INBOX"]["new"]
    want = round(s["folders"]["INBOX"]["messages"] * ARGS["new"] / 100)
    assert nnew == s["new"] == want
    assert nnew > 0
    assert [sub for _, sub in inbox] == \
        ["cur"] * (len(inbox) - nnew) + ["new"] * nnew


def test_summary_counts(tree, msgs):
    _, s = tree
    assert s["count"] == len(msgs) == \
        sum(st["messages"] for st in s["folders"].values())
    assert s["total_bytes"] == sum(len(d) for *_, d in msgs)
    for name, st in s["folders"].items():
        mine = sorted((n, d) for f, _, n, d in msgs if f == st["dir"])
        assert st["messages"] == len(mine)
        assert st["bytes"] == sum(len(d) for _, d in mine)
        assert st["first"] == msgid_of(mine[0][1])
        assert st["last"] == msgid_of(mine[-1][1])
    assert s["inbox_first"] == s["folders"]["INBOX"]["first"]
    assert s["inbox_last"] == s["folders"]["INBOX"]["last"]
    assert s["keywords"] == {"a": "$Forwarded", "b": "$Junk", "c": "$NotJunk",
                             "d": "Work", "e": "Personal"}


def test_every_good_message_parses(msgs):
    kinds = set()
    for folder, sub, name, data in msgs:
        if data.startswith(b"X-Broken:"):
            continue
        m = email.message_from_bytes(data, policy=email.policy.default)
        assert m["Message-ID"] and m["From"] and m["Date"], name
        assert m["Date"].datetime is not None
        for h in ("From", "To", "Cc", "Subject"):
            if m[h] is not None:
                str(m[h])
                assert not m[h].defects, (name, h, m[h].defects)
        for part in m.walk():
            assert not part.defects, (name, part.get_content_type(),
                                      part.defects)
            kinds.add(part.get_content_type())
            if part.get_content_maintype() == "text":
                part.get_content()
            elif not part.is_multipart() and \
                    part.get_content_maintype() != "message":
                assert part.get_content()
    for k in ("text/plain", "text/html", "multipart/alternative",
              "multipart/mixed", "message/rfc822", "application/pdf"):
        assert k in kinds, k


def test_message_ids_unique_and_threads(msgs):
    ids = [msgid_of(d) for *_, d in msgs]
    assert None not in ids
    assert len(ids) == len(set(ids))
    known = set(ids)
    replies = 0
    for *_, data in msgs:
        if data.startswith(b"X-Broken:"):
            continue
        m = email.message_from_bytes(data, policy=email.policy.default)
        irt = m["In-Reply-To"]
        if irt:
            replies += 1
            refs = str(m["References"]).split()
            assert refs[-1] == str(irt)
            assert str(m["Message-ID"]) not in refs
            assert str(irt) in known
    assert replies > len(msgs) // 10


def test_realistic_variety(msgs):
    blob = b"\n".join(d for *_, d in msgs)
    for needle in (b"=?UTF-8?B?", b"?Q?", b"=?iso-8859-1?Q?", b"filename*=",
                   b"filename*0*=UTF-8''",
                   b"Content-Transfer-Encoding: quoted-printable",
                   b"Content-Transfer-Encoding: 8bit", b"format=flowed",
                   b"List-Id: ", b"In-Reply-To: ", b"\nCc: ",
                   b"multipart/related", b"DKIM-Signature: ",
                   b"Received: from ", b"application/pdf",
                   b"multipart/signed"):
        assert needle in blob, needle
    pdf = [d for *_, d in msgs
           if b"application/pdf" in d and not d.startswith(b"X-Broken")]
    m = email.message_from_bytes(pdf[0], policy=email.policy.default)
    att = next(p for p in m.walk()
               if p.get_content_type() == "application/pdf")
    assert att.get_content().startswith(b"%PDF-1.")
    assert any(d.count(b"\n") and len(d) > 100000 for *_, d in msgs)


def test_needles_and_absent_word(tree, msgs):
    _, s = tree
    by_id = {msgid_of(d): (f, d) for f, _, _, d in msgs}
    dirs = {st["dir"]: name for name, st in s["folders"].items()}
    assert [n["word"] for n in s["needles"]] == \
        [w for w, *_ in mkmaildir.NEEDLES]
    for n in s["needles"]:
        word = n["word"].encode().lower()
        have = {}
        for f, _, _, d in msgs:
            if word in d.lower():
                have.setdefault(dirs[f], set()).add(msgid_of(d))
        assert have == {k: set(v) for k, v in n["hits"].items()}, n["word"]
        assert n["count"] == sum(len(v) for v in n["hits"].values()) > 0
        for ids in n["hits"].values():
            for i in ids:
                data = by_id[i][1]
                assert not data.startswith(b"X-Broken")
                m = email.message_from_bytes(data, policy=email.policy.default)
                head, _, body = data.partition(b"\n\n")
                if n["where"] == "subject":
                    assert n["word"] in str(m["Subject"])
                    assert word not in body.lower()
                elif n["where"].startswith("header"):
                    assert n["word"] in str(m["X-Campaign"])
                    assert word not in body.lower()
                else:
                    assert word not in head.lower()
                    texts = [p.get_content() for p in m.walk()
                             if p.get_content_type() == "text/plain"]
                    assert any(n["word"] in t for t in texts)
    one = next(n for n in s["needles"] if n["word"] == "quokkafire")
    assert one["count"] == 1
    utf8 = next(n for n in s["needles"] if n["where"] == "body-utf8")
    assert not utf8["word"].isascii()
    absent = s["absent_word"].encode().lower()
    assert not any(absent in d.lower() for *_, d in msgs)


def test_broken_messages(tree, msgs):
    _, s = tree
    broken = {}
    for *_, d in msgs:
        if d.startswith(b"X-Broken: "):
            broken.setdefault(d.split(b"\n", 1)[0][10:].decode(), []).append(d)
    assert s["broken"] == sum(map(len, broken.values())) == \
        round(ARGS["count"] * ARGS["broken"] / 100)
    assert set(broken) == set(mkmaildir.BROKEN_KINDS) == set(s["broken_kinds"])
    for d in broken["nul-in-body"]:
        assert b"\0" in d.partition(b"\n\n")[2]
    for d in broken["huge-header"]:
        assert max(len(ln) for ln in d.split(b"\n")) >= 1 << 20
    for d in broken["header-only"]:
        assert b"\n\n" not in d and d.endswith(b"\n")
    for d in broken["no-separator"]:
        head = d.partition(b"\n\n")[0].split(b"\n")
        # the line after the headers is neither a header nor blank
        assert not re.match(rb"^[!-9;-~]+:", head[-1])
        assert head[-1][:1] not in b" \t"
    for d in broken["mixed-crlf"]:
        assert b"\r\n" in d and re.search(rb"[^\r]\n", d)
    for d in broken["8bit-header"]:
        assert not d.partition(b"\n\n")[0].isascii()
    for d in broken["missing-final-boundary"]:
        b = re.search(rb'boundary="([^"]+)"', d).group(1)
        assert b"--" + b + b"\n" in d and b"--" + b + b"--" not in d
    for d in broken["no-boundary"]:
        b = re.search(rb'boundary="([^"]+)"', d).group(1)
        assert d.count(b) == 1
    for d in broken["deep-nesting"]:
        assert d.count(b"multipart/mixed") >= 100
    for d in sum(broken.values(), []):
        assert d and msgid_of(d)


def test_mbox(tmp_path):
    path = tmp_path / "mail.mbox"
    s = mkmaildir.make(path, count=150, seed=3, broken=4, mbox=True)
    raw = path.read_bytes()
    seps = [ln for ln in raw.split(b"\n") if ln.startswith(b"From ")]
    assert len(seps) == 150
    for ln in seps:
        assert re.match(rb"^From \S+@\S+ \w{3} \w{3} [ \d]\d "
                        rb"\d\d:\d\d:\d\d \d{4}$", ln), ln
    assert b"\n>From " in raw      # body lines starting "From " are quoted
    box = mailbox.mbox(path)
    got = [box.get_bytes(k) for k in box.keys()]
    assert len(got) == 150 == s["count"] == s["folders"]["INBOX"]["messages"]
    assert msgid_of(got[0]) == s["inbox_first"]
    assert msgid_of(got[-1]) == s["inbox_last"]
    for data in got:
        if not data.startswith(b"X-Broken"):
            m = email.message_from_bytes(data, policy=email.policy.default)
            assert m["Message-ID"]
    with pytest.raises(FileExistsError):
        mkmaildir.make(path, count=1, mbox=True)


def test_sizes(tmp_path):
    with pytest.raises(ValueError):
        mkmaildir.parse_sizes("1:5K")
    with pytest.raises(ValueError):
        mkmaildir.parse_sizes("1:20K-10K")
    assert 12000 < mkmaildir.size_mean(mkmaildir.DEFAULT_SIZES) < 17000
    s = mkmaildir.make(tmp_path / "big", count=30, sizes="1:200K-300K")
    sizes = [len(d) for *_, d in messages(tmp_path / "big")]
    assert min(sizes) > 150000 and max(sizes) < 400000
    assert s["size_distribution"] == "1:200K-300K"


def test_plain_maildir_defaults(tmp_path):
    s = mkmaildir.make(tmp_path / "m", count=40)
    ms = messages(tmp_path / "m")
    assert len(ms) == 40 and s["new"] == 0 and s["broken"] == 0
    assert all(n.endswith(":2,") for _, sub, n, _ in ms)
    assert not (tmp_path / "m" / "subscriptions").exists()
    assert not (tmp_path / "m" / "dovecot-keywords").exists()
    with pytest.raises(FileExistsError):
        mkmaildir.make(tmp_path / "m", count=1)


def test_cli(tmp_path):
    h = subprocess.run([sys.executable, str(TOOL), "--help"],
                       capture_output=True, text=True, timeout=60)
    assert h.returncode == 0
    for opt in ("--count", "--seed", "--folders", "--new", "--flags",
                "--keywords", "--broken", "--mbox", "--sizes", "absent_word",
                "S="):
        assert opt in h.stdout, opt
    p = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "cli"),
                        "--count", "60", "--seed", "9", "--folders", "3",
                        "--new", "20", "--flags"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 1
    s = json.loads(lines[0])
    mod = mkmaildir.make(tmp_path / "mod", count=60, seed=9, folders=3,
                         new=20, flags=True)
    assert s == mod | {"path": str(tmp_path / "cli")}
    bad = subprocess.run([sys.executable, str(TOOL), "--count", "5"],
                         capture_output=True, timeout=60)
    assert bad.returncode != 0
