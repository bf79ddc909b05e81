"""FETCH PREVIEW and PREVIEW (LAZY) (RFC 8970): the text each rule of
common/mail/preview.h gives, with messages built for it, the grammar of the
answer (a quoted string for ASCII, a literal otherwise, NIL only for LAZY),
and the structure cache that answers a second FETCH PREVIEW without
reading the message files."""

import base64
import re

import pytest

import imapdtest
from imapdtest import Session, drop


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server


def mail(body, ctype="text/plain; charset=utf-8", cte=None,
         subject="Hello", extra=""):
    h = ["From: a@example.org", "To: b@example.org",
         "Subject: " + subject, "Date: Mon, 2 Nov 2026 09:00:00 +0000",
         "MIME-Version: 1.0"]
    if ctype:
        h.append("Content-Type: " + ctype)
    if cte:
        h.append("Content-Transfer-Encoding: " + cte)
    return ("\n".join(h) + "\n" + extra + "\n").encode() + body


def deliver(user, bodies):
    for b in bodies:
        drop(user, b, flags="")


def session(server, user):
    s = Session(server, user)
    s.ok("SELECT INBOX")
    return s


PREVIEW = re.compile(r'PREVIEW (NIL|"((?:[^"\\]|\\.)*)"|\{(\d+)\}\n)')


def previews(s, text):
    """{seq: preview} from the FETCH responses to text; None for NIL."""
    r = s.ok(text)
    out = {}
    for line in r[:-1]:
        m = re.match(r"\* (\d+) FETCH ", line)
        if not m:
            continue
        p = PREVIEW.search(line)
        assert p, line
        if p.group(1) == "NIL":
            v = None
        elif p.group(3) is not None:
            raw = line[p.end():].encode()
            n = int(p.group(3))
            v = raw[:n].decode()
            # the item (and the response) goes on after the literal
            assert raw[n:n + 1] in (b")", b" "), line
        else:
            v = re.sub(r"\\(.)", r"\1", p.group(2))
            assert v.isascii(), line
        out[int(m.group(1))] = v
    return out


LONG = "Ünïcödé wörds, ✓ and 😀 " * 20      # 2- 3- and 4-byte characters

CASES = [
    # (message, preview)
    (mail(b"Just a plain note.\n\nSecond   paragraph.\n"),
     "Just a plain note. Second paragraph."),
    (mail("Caf=C3=A9 =E2=82=AC5, a soft=\nbreak.\n".encode(),
          cte="quoted-printable"), "Café €5, a softbreak."),
    (mail(base64.encodebytes("Grüße aus Köln\n".encode()),
          cte="base64"), "Grüße aus Köln"),
    (mail("Déjà vu à Genève\n".encode("iso-8859-1"),
          ctype="text/plain; charset=ISO-8859-1", cte="8bit"),
     "Déjà vu à Genève"),
    (mail(b"<html><head><title>T</title><style>p {}</style></head><body>"
          b"<p>Hello&nbsp;<b>HTML</b> &amp; friends</p>"
          b"<script>alert(1)</script></body></html>",
          ctype="text/html; charset=us-ascii"), "Hello HTML & friends"),
    (mail(b"--alt\nContent-Type: text/plain\n\nPlain version\n"
          b"--alt\nContent-Type: text/html\n\n<p>HTML version</p>\n"
          b"--alt--\n", ctype="multipart/alternative; boundary=alt"),
     "Plain version"),
    (mail(b"--mix\nContent-Type: application/pdf\n"
          b"Content-Disposition: attachment; filename=x.pdf\n"
          b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--mix--\n",
          ctype="multipart/mixed; boundary=mix"), ""),
    (mail(LONG.encode()), LONG.replace("  ", " ")[:200]),
    (mail(b"I agree.\n\nOn Monday you wrote:\n> the plan\n>> older\n"
          b"Thanks\n-- \nJane Doe\n555-1234\n"),
     "I agree. On Monday you wrote: Thanks"),
    (mail(b"Body only\n", subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?="),
     "Body only"),
]


def test_capability(md, mailuser):
    s = Session(md, mailuser)
    caps = s.ok("CAPABILITY")[0].split()
    assert "PREVIEW" in caps
    s.close()


def test_preview_rules(md, mailuser):
    """Each rule with a message built for it; the long text is cut at 200
    characters (not bytes), on a character boundary."""
    deliver(mailuser, [m for m, _ in CASES])
    s = session(md, mailuser)
    got = previews(s, "FETCH 1:* (PREVIEW)")
    for i, (_, want) in enumerate(CASES):
        assert got[i + 1] == want, (i + 1, got[i + 1])
    long_ = got[CASES.index(next(c for c in CASES if c[1].startswith(
        "Ünï"))) + 1]
    assert len(long_) == 200 and len(long_.encode()) > 200
    # PREVIEW reads no body in the sense of RFC 9051: \Seen stays unset
    r = s.ok("FETCH 1:* (FLAGS)")
    assert all("\\Seen" not in l for l in r[:-1]), r
    s.close()


def test_preview_grammar(md, mailuser):
    """Quoted for ASCII (with quotes escaped), a literal for UTF-8, the
    item form without parentheses, UID FETCH, and a bad modifier."""
    deliver(mailuser, [mail(b'Say "hi" \\ bye\n'), mail("é\n".encode())])
    s = session(md, mailuser)
    r = s.ok("FETCH 1 PREVIEW")
    assert r[0] == '* 1 FETCH (PREVIEW "Say \\"hi\\" \\\\ bye")', r
    r = s.ok("FETCH 2 (PREVIEW)")
    assert r[0] == "* 2 FETCH (PREVIEW {2}\n" + "é)", r
    r = s.ok("UID FETCH 1:* (PREVIEW)")
    assert re.match(r"\* 1 FETCH \(UID 1 PREVIEW \"Say", r[0]), r
    r = s.cmd("FETCH 1 (PREVIEW (LAZY FOO))")
    assert r[-1].split()[1] == "BAD", r
    r = s.cmd("FETCH 1 (PREVIEW (FOO))")
    assert r[-1].split()[1] == "BAD", r
    s.close()


def test_lazy(md, mailuser):
    """LAZY gives NIL for a preview not yet computed (RFC 8970 lets
    the server answer so instead of reading the message) and the text once
    it is cached; without LAZY it is never NIL."""
    deliver(mailuser, [mail(b"First\n"), mail(b"Second\n"),
                       mail(b"", ctype="image/png", cte="base64")])
    s = session(md, mailuser)
    assert previews(s, "FETCH 1:* (PREVIEW (LAZY))") == \
        {1: None, 2: None, 3: None}
    assert previews(s, "FETCH 1 PREVIEW (LAZY)") == {1: None}
    assert previews(s, "FETCH 1,3 (PREVIEW)") == {1: "First", 3: ""}
    assert previews(s, "FETCH 1:* (PREVIEW (LAZY))") == \
        {1: "First", 2: None, 3: ""}
    # opened for another item anyway: computed then
    r = s.ok("FETCH 2 (PREVIEW (LAZY) BODY.PEEK[TEXT])")
    assert 'PREVIEW "Second"' in r[0], r
    s.close()


def test_second_fetch_reads_no_file(md, mailuser):
    """The preview is kept in the structure cache: a new session answers
    FETCH PREVIEW (with and without LAZY) with every message file
    unreadable, and the cache file holds the text."""
    deliver(mailuser, [m for m, _ in CASES])
    s = session(md, mailuser)
    first = previews(s, "FETCH 1:* (PREVIEW)")
    s.close()
    cached = b""
    for f in mailuser.maildir().glob("imapd-msgcache.*"):
        cached += f.read_bytes()
    assert "Grüße aus Köln".encode() in cached
    files = list((mailuser.maildir() / "cur").iterdir())
    for f in files:
        f.chmod(0)
    try:
        t = session(md, mailuser)
        again = previews(t, "FETCH 1:* (PREVIEW)")
        lazy = previews(t, "FETCH 1:* (PREVIEW (LAZY))")
        # the files are unreadable indeed
        r = t.cmd("FETCH 1 BODY.PEEK[]")
        assert "BODY[]" not in " ".join(r), r
        t.close()
    finally:
        for f in files:
            f.chmod(0o600)
    assert again == first
    assert lazy == first
    assert first[1] == CASES[0][1]
