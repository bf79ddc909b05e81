"""A realistic Maildir made by the repo's own data maker
(tests/lib/mkmaildir.py: multipart, attachments, encoded headers, threads,
flags, keywords, Maildir++ folders, some broken messages), checked end to
end: every folder, count, flag, keyword and size the server reports must
match what is on disk, every message must FETCH, and SEARCH must find the
maker's needles exactly where it put them."""

import os
import re

import pytest

import imapdtest
import mkmaildir
from imapdtest import Session


@pytest.fixture
def realistic(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    summary = mkmaildir.make(str(mailuser.maildir()), count=400, seed=7,
                             folders=6, new=5, flags=True, keywords=True,
                             broken=3)
    if imapdtest.IS_ROOT:
        for root, dirs, names in os.walk(mailuser.maildir()):
            for n in dirs + names:
                os.chown(os.path.join(root, n), mailuser.uid, mailuser.gid)
        os.chown(mailuser.maildir(), mailuser.uid, mailuser.gid)
    return server, summary


def fetch_lines(r):
    return [l for l in r if re.match(r"\* \d+ FETCH", l)]


def test_folders_counts_flags_sizes(realistic, mailuser):
    server, summary = realistic
    s = Session(server, mailuser)
    r = s.ok('LIST "" "*"')
    listed = {re.sub(r'^.*"/" ', "", l).strip('"') for l in r
              if l.startswith("* LIST")}
    for name, st in summary["folders"].items():
        assert name in listed, (name, listed)
        q = '"' + name + '"'
        r = s.ok(f"STATUS {q} (MESSAGES)")
        m = re.search(r"MESSAGES (\d+)", r[0])
        assert int(m.group(1)) == st["messages"], (name, r[0])
    # INBOX: flags and sizes match the file names on disk
    r = s.ok("SELECT INBOX", timeout=60)
    n = summary["folders"]["INBOX"]["messages"]
    assert f"* {n} EXISTS" in r
    r = s.ok("FETCH 1:* (UID FLAGS RFC822.SIZE)", timeout=60)
    lines = fetch_lines(r)
    assert len(lines) == n
    on_disk = {}
    for sub in ("cur", "new"):
        for f in os.listdir(mailuser.maildir() / sub):
            m = re.search(r",W=(\d+)", f)
            flags = f.split(":2,")[1] if ":2," in f else ""
            on_disk.setdefault(int(m.group(1)), []).append(flags)
    seen = sum(1 for l in lines if "\\Seen" in l)
    assert seen == sum(1 for v in on_disk.values() for f in v if "S" in f)
    for l in lines:
        size = int(re.search(r"RFC822.SIZE (\d+)", l).group(1))
        assert size in on_disk, l
    # keywords from dovecot-keywords come out by name
    kwfile = (mailuser.maildir() / "dovecot-keywords").read_text()
    names = [x.split(" ", 1)[1] for x in kwfile.splitlines()]
    text = "\n".join(lines)
    assert any(k in text for k in names)
    assert "\\Recent" in text      # the first SELECT claims them


def test_every_message_fetches(realistic, mailuser):
    server, summary = realistic
    s = Session(server, mailuser)
    for name, st in summary["folders"].items():
        if st["messages"] == 0:
            continue
        s.ok(f'EXAMINE "{name}"')
        r = s.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE INTERNALDATE "
                 "RFC822.SIZE)", timeout=120)
        assert len(fetch_lines(r)) == st["messages"], name
        r = s.ok("FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.100>)",
                 timeout=120)
        assert len(fetch_lines(r)) == st["messages"], name
    # the first and last INBOX messages are where the maker says
    s.ok("EXAMINE INBOX")
    r = s.ok("FETCH 1 (ENVELOPE)")
    assert summary["inbox_first"] in r[0]


def test_search_finds_needles(realistic, mailuser):
    server, summary = realistic
    s = Session(server, mailuser)
    for needle in summary["needles"]:
        word, where = needle["word"], needle["where"]
        for folder, ids in needle["hits"].items():
            s.ok(f'EXAMINE "{folder}"')
            if where.startswith("body"):
                q = f'CHARSET UTF-8 BODY "{word}"'
            elif where == "subject":
                q = f"SUBJECT {word}"
            else:
                field = where.split(" ", 1)[1]
                q = f"HEADER {field} {word}"
            r = s.ok("SEARCH " + q, timeout=120)
            hits = r[0].split()[2:]
            assert len(hits) == len(ids), (word, folder, r[0])
            for seq in hits:
                f = s.ok(f"FETCH {seq} (BODY.PEEK[HEADER.FIELDS "
                         "(MESSAGE-ID)])")
                assert any(i in f[0] for i in ids), (word, f[0])
    s.ok("EXAMINE INBOX")
    r = s.ok(f"SEARCH BODY {summary['absent_word']}", timeout=120)
    assert r[0] == "* SEARCH"


def test_structure_cache_gives_the_same_answers(realistic, mailuser):
    server, summary = realistic
    q = "FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)"
    s = Session(server, mailuser)
    s.ok("EXAMINE INBOX")
    first = s.ok(q, timeout=120)
    s.close()
    assert (mailuser.maildir() / "imapd-msgcache.log").exists() or \
        (mailuser.maildir() / "imapd-msgcache.cdb").exists()
    # a new session answers from the cache; every byte must agree
    s = Session(server, mailuser)
    s.ok("EXAMINE INBOX")
    second = s.ok(q, timeout=120)
    assert fetch_lines(first) == fetch_lines(second)
    # a damaged cache is ignored, not believed
    for f in ("imapd-msgcache.log", "imapd-msgcache.cdb"):
        p = mailuser.maildir() / f
        if p.exists():
            data = bytearray(p.read_bytes())
            for i in range(40, len(data), 997):
                data[i] ^= 0x55
            p.write_bytes(bytes(data))
    s = Session(server, mailuser)
    s.ok("EXAMINE INBOX")
    third = s.ok(q, timeout=120)
    assert fetch_lines(third) == fetch_lines(first)


def test_search_header_same_from_the_structure_cache(realistic, mailuser):
    """SEARCH HEADER answers from the structure cache (filled by FETCH
    ENVELOPE) exactly as from the files, over realistic mail with encoded
    and broken headers."""
    server, summary = realistic
    s = Session(server, mailuser)
    s.ok("EXAMINE INBOX")
    r = s.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID "
             "IN-REPLY-TO)])", timeout=120)
    # needles: pieces of the fields as written, and some fixed ones
    words = set()
    for l in r:
        for w in re.findall(r"[A-Za-z0-9@.<>=?_-]{3,}", l)[:12]:
            words.add(w[:12])
    needles = sorted(words)[:60] + ["", " ", "re:", "RE: ", "fwd",
                                    "\u00fc", "gmail.com", "<"]
    queries = [f'HEADER {f} "{n}"' for f in ("Subject", "Message-ID",
                                              "In-Reply-To", "Date")
               for n in needles if '"' not in n and "\\" not in n]

    def answers():
        out = []
        for q in queries:
            r = s.ok("SEARCH CHARSET UTF-8 " + q, timeout=120)
            out.append([l for l in r if l.startswith("* SEARCH")])
        return out

    from_files = answers()
    assert sum(len(a[0].split()) > 2 for a in from_files) > len(queries) / 3
    s.ok("FETCH 1:* (ENVELOPE)", timeout=120)
    assert answers() == from_files
    s.close()
    s = Session(server, mailuser)
    s.ok("EXAMINE INBOX")
    assert answers() == from_files
