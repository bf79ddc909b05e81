"""UTF8=ACCEPT (RFC 6855): UTF-8 mailbox names for a client that enabled
it and modified UTF-7 for one that did not, on the same folders on disk;
headers in raw UTF-8 (RFC 6532) sent as they are, and never as 8-bit
bytes in a quoted string to a client that did not enable UTF-8; APPEND's
UTF8 data extension; charset labels refused once UTF-8 is enabled."""

import os
import re

import pytest

import imapdtest
from imapdtest import Session, crlf, drop
from mkmaildir import mutf7


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    return server


def raw_line(s):
    r = s.raw
    r.sock.settimeout(r.timeout)
    while b"\n" not in r.buf:
        chunk = r.recv()
        if not chunk:
            raise EOFError("connection closed")
        r.buf += chunk
    line, _, r.buf = r.buf.partition(b"\n")
    return line.rstrip(b"\r")


def exchange(s, command):
    """Send one command (bytes, without tag and CRLF); return the bytes the
    server sent outside literals, the literals' bytes, and the tagged
    line."""
    t = s.tag()
    s.raw.send(t.encode() + b" " + command + b"\r\n")
    outside, lits = b"", []
    while True:
        line = raw_line(s)
        outside += line + b"\n"
        m = re.search(rb"\{(\d+)\}$", line)
        if m:
            lits.append(s.read_exact(int(m.group(1))))
            continue
        if line.startswith(t.encode() + b" "):
            return outside, lits, line.decode("utf-8", "replace")


def ok(s, command):
    outside, lits, tagged = exchange(s, command)
    assert tagged.split()[1] == "OK", (outside, tagged)
    return outside, lits


def utf8_session(server, user):
    s = Session(server, user)
    outside, _ = ok(s, b"ENABLE UTF8=ACCEPT")
    assert b"* ENABLED UTF8=ACCEPT" in outside
    return s


def seven_bit_outside_literals(outside):
    """RFC 3501: outside literals (quoted strings, atoms, text) every byte
    is 7-bit."""
    return all(b < 0x80 for b in outside)


def test_advertised_and_enabled_once(md, mailuser):
    s = Session(md, mailuser)
    outside, _ = ok(s, b"CAPABILITY")
    assert b" UTF8=ACCEPT" in outside
    outside, _ = ok(s, b"ENABLE UTF8=ACCEPT")
    assert b"* ENABLED UTF8=ACCEPT\r\n" in outside.replace(b"\n", b"\r\n")
    # a second ENABLE turns nothing on, so it lists nothing (RFC 5161)
    outside, _ = ok(s, b"ENABLE UTF8=ACCEPT")
    assert b"* ENABLED\n" in outside


NAMES = ["Entwürfe", "日本語", "日本語/子"]


def test_mailbox_names_utf8_and_mutf7(md, mailuser):
    u = utf8_session(md, mailuser)
    for n in NAMES:
        ok(u, b'CREATE "' + n.encode() + b'"')
    # on disk: modified UTF-7, as Dovecot and Courier keep it
    disk = sorted(os.listdir(mailuser.maildir()))
    assert ".Entw&APw-rfe" in disk
    assert "." + mutf7("日本語") + "." + mutf7("子") in disk

    # the enabled client sees UTF-8, in quoted strings
    outside, lits = ok(u, b'LIST "" "*"')
    for n in NAMES:
        assert b'"/" "' + n.encode() + b'"\n' in outside, outside
    assert not lits
    # a wildcard inside a run of non-ASCII characters matches
    outside, _ = ok(u, 'LIST "" "日本*"'.encode())
    got = re.findall(rb'"/" "([^"]*)"', outside)
    assert sorted(got) == sorted(n.encode() for n in NAMES[1:]), outside
    outside, _ = ok(u, 'LIST "" "Entw%rfe"'.encode())
    assert re.findall(rb'"/" "([^"]*)"', outside) == ["Entwürfe".encode()]

    # a client that did not enable it sees modified UTF-7 only
    r = Session(md, mailuser)
    outside, lits = ok(r, b'LIST "" "*"')
    assert seven_bit_outside_literals(outside) and not lits
    for n in NAMES:
        assert ('"/" "' + "/".join(mutf7(p) for p in n.split("/")) +
                '"').encode() in outside, outside

    # SELECT and STATUS in each client's form reach the same folder
    drop(mailuser, imapdtest.message(subject="x"), folder="Entw&APw-rfe")
    outside, _ = ok(u, 'SELECT "Entwürfe"'.encode())
    assert b"* 1 EXISTS" in outside
    outside, _ = ok(r, b'SELECT "Entw&APw-rfe"')
    assert b"* 1 EXISTS" in outside
    outside, _ = ok(u, 'STATUS "日本語/子" (MESSAGES)'.encode())
    assert '* STATUS "日本語/子" (MESSAGES 0)'.encode() in outside
    outside, _ = ok(r, ("STATUS " + mutf7("日本語") + "/" + mutf7("子") +
                        " (MESSAGES)").encode())
    assert seven_bit_outside_literals(outside)

    # RENAME by the enabled client, seen by both
    ok(u, b"UNSELECT")
    ok(u, 'RENAME "Entwürfe" "Brouillons é"'.encode())
    assert ".Brouillons &AOk-" in os.listdir(mailuser.maildir())
    outside, _ = ok(r, b'LIST "" "Brouillons*"')
    assert b'"/" "Brouillons &AOk-"' in outside
    outside, _ = ok(u, b'LIST "" "Brouillons*"')
    assert '"/" "Brouillons é"'.encode() in outside


def test_mailbox_name_rules(md, mailuser):
    u = utf8_session(md, mailuser)
    # no line or paragraph separator in a UTF-8 name (RFC 6855 3)
    _, _, tagged = exchange(u, 'CREATE "a\u2028b"'.encode())
    assert tagged.split()[1] == "NO" and "RFC 6855" in tagged, tagged
    # invalid UTF-8 is no name
    _, _, tagged = exchange(u, b'CREATE {3+}\r\nA\xc3(')
    assert tagged.split()[1] == "NO", tagged
    # a client that did not enable UTF-8 cannot send 8-bit names
    r = Session(md, mailuser)
    _, _, tagged = exchange(r, 'CREATE "Entwürfe"'.encode())
    assert tagged.split()[1] == "NO" and "UTF-7" in tagged, tagged
    assert ".Entw&APw-rfe" not in os.listdir(mailuser.maildir())
    # what a UTF-8 client sends that looks like modified UTF-7 is taken
    # as the characters it is made of
    ok(u, b'CREATE "A&APw-"')
    assert ".A&-APw-" in os.listdir(mailuser.maildir())


SUBJECT = "Grüße aus 日本"
FROM = "Jürgen Groß <jg@example.org>"


def utf8_message():
    return (f"From: {FROM}\nTo: b@example.org\nSubject: {SUBJECT}\n"
            "Date: Mon, 2 Nov 2026 09:00:00 +0000\n"
            "Message-ID: <utf8-1@test>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Disposition: attachment; filename=\"Bericht für "
            "März.txt\"\n\nHallo.\n").encode()


def test_utf8_headers_to_both_kinds_of_client(md, mailuser):
    drop(mailuser, utf8_message())
    items = b"FETCH 1 (ENVELOPE BODYSTRUCTURE " \
        b"BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
    want = f"Subject: {SUBJECT}\r\n\r\n".encode()

    u = utf8_session(md, mailuser)
    ok(u, b"SELECT INBOX")
    outside, lits = ok(u, items)
    every = outside + b"".join(lits)
    # the bytes as they are: no encoded-words, no replacement characters
    assert SUBJECT.encode() in every and "Jürgen Groß".encode() in every
    assert "Bericht für März.txt".encode() in every
    assert want in lits

    r = Session(md, mailuser)
    ok(r, b"SELECT INBOX")
    outside, lits = ok(r, items)
    # nothing 8-bit where RFC 3501 allows 7-bit only
    assert seven_bit_outside_literals(outside), outside
    # and nothing lost: the 8-bit strings came as literals, unchanged
    assert SUBJECT.encode() in lits and want in lits
    assert any("Jürgen Groß".encode() in l for l in lits)
    assert "Bericht für März.txt".encode() in lits


def test_search_and_sort_after_enable(md, mailuser):
    drop(mailuser, utf8_message())
    drop(mailuser, imapdtest.message(subject="plain"))
    u = utf8_session(md, mailuser)
    ok(u, b"SELECT INBOX")
    # UTF-8 strings need no charset label now
    outside, _ = ok(u, 'SEARCH SUBJECT "日本"'.encode())
    assert b"* SEARCH 1\n" in outside
    # and a label contradicts what was enabled (RFC 6855 3, erratum 4029)
    _, _, tagged = exchange(u, b"SEARCH CHARSET UTF-8 SUBJECT plain")
    assert tagged.split()[1] == "BAD", tagged
    _, _, tagged = exchange(u, b"SORT (SUBJECT) US-ASCII ALL")
    assert tagged.split()[1] == "BAD", tagged
    outside, _ = ok(u, b"SORT (SUBJECT) UTF-8 ALL")
    assert re.search(rb"\* SORT \d \d\n", outside)

    # without ENABLE, CHARSET is as RFC 3501 has it
    r = Session(md, mailuser)
    ok(r, b"SELECT INBOX")
    outside, _ = ok(r, b"SEARCH CHARSET UTF-8 SUBJECT {6}\r\n" +
                    "日本".encode())
    assert b"* SEARCH 1\n" in outside


def append_utf8(s, msg, mailbox=b"INBOX"):
    t = s.tag()
    s.raw.send(t.encode() + b" APPEND " + mailbox + b" UTF8 (~{" +
               str(len(msg)).encode() + b"+}\r\n" + msg + b")\r\n")
    return s.read_tagged(t)


def test_append_utf8_stored_byte_for_byte(md, mailuser):
    msg = crlf(utf8_message())
    u = utf8_session(md, mailuser)
    r = append_utf8(u, msg)
    assert re.search(r"OK \[APPENDUID \d+ 1\]", r[-1]), r
    names = os.listdir(mailuser.maildir() / "cur")
    assert len(names) == 1
    assert (mailuser.maildir() / "cur" / names[0]).read_bytes() == msg
    # with flags and a date, and a second message in the same command
    t = u.tag()
    u.raw.send(t.encode() + b' APPEND INBOX (\\Seen) "05-Nov-2026 10:20:30'
               b' +0100" UTF8 (~{' + str(len(msg)).encode() + b'+}\r\n' +
               msg + b') UTF8 (~{' + str(len(msg)).encode() + b'+}\r\n' +
               msg + b')\r\n')
    r = u.read_tagged(t)
    assert re.search(r"OK \[APPENDUID \d+ 2:3\]", r[-1]), r
    # the UTF8 data extension takes exactly one literal8
    t = u.tag()
    u.raw.send(t.encode() + b" APPEND INBOX UTF8 ({5+}\r\nabcde)\r\n")
    assert u.read_tagged(t)[-1].split()[1] == "BAD"
    assert len(os.listdir(mailuser.maildir() / "cur")) == 3


def test_append_utf8_refused_before_enable(md, mailuser):
    msg = crlf(utf8_message())
    s = Session(md, mailuser)
    r = append_utf8(s, msg)
    assert r[-1].split()[1] == "BAD", r
    assert "ENABLE UTF8=ACCEPT" in r[-1]
    # IMAP4rev2 alone does not make the extension available
    ok(s, b"ENABLE IMAP4rev2")
    r = append_utf8(s, msg)
    assert r[-1].split()[1] == "BAD", r
    assert os.listdir(mailuser.maildir() / "cur") == []
    # the session is still in step
    ok(s, b"NOOP")


def test_append_utf8_refused_before_the_continuation(md, mailuser):
    s = Session(md, mailuser)
    s.raw.send(b"a1 APPEND INBOX UTF8 (~{100}\r\n")
    line = s.raw.line()
    assert line.startswith("a1 BAD") and "UTF8=ACCEPT" in line, line
    assert os.listdir(mailuser.maildir() / "tmp") == []
    # once enabled, the same literal is taken
    ok(s, b"ENABLE UTF8=ACCEPT")
    s.raw.send(b"a2 APPEND INBOX UTF8 (~{100}\r\n")
    assert s.raw.line().startswith("+")
