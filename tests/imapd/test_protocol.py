"""Protocol details that clients trip over: fixed problems kept fixed.
Each test names the RFC text it checks.  The broader, scripted suite is
tests/conformance (the same scripts run against Dovecot there)."""

import re

import pytest

import imapdtest
from imapdtest import Session, drop, message


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server


def sess(server, user):
    return Session(server, user)


def fill(user, n, **kw):
    for i in range(n):
        drop(user, message(subject="m%d" % i), **kw)


def test_other_sessions_changes_reach_noop_and_check(md, mailuser):
    """RFC 9051 7.5.2 / 6.1.2: NOOP (and CHECK) are where a client learns
    of other sessions' expunges and flag changes."""
    fill(mailuser, 4, flags="")
    a, b = sess(md, mailuser), sess(md, mailuser)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 2 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert "* 2 EXPUNGE" in r, r
    b.ok("STORE 1 +FLAGS (\\Flagged)")
    r = a.ok("CHECK")
    assert any(re.match(r"\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged", l)
               for l in r), r


def test_fetch_item_without_parentheses(md, mailuser):
    """RFC 9051 6.4.5: a single fetch-att needs no parentheses, even a
    section with a field list (Perl's Mail::IMAPClient sends this)."""
    fill(mailuser, 1)
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert "Subject: m0" in r[0], r
    r = s.ok("UID FETCH 1:* BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)]<0.5>")
    assert "BODY[HEADER.FIELDS.NOT (SUBJECT FROM)]<0>" in r[0], r


def test_sequence_numbers_beyond_exists_are_bad(md, mailuser):
    """RFC 9051 section 9 (seq-number): a number above EXISTS, or "*" in
    an empty mailbox, is BAD; UID sets never are."""
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    assert s.cmd("FETCH 1 FLAGS")[-1].split()[1] == "BAD"
    assert s.cmd("FETCH 1:* FLAGS")[-1].split()[1] == "BAD"
    s.ok("UID FETCH 1:* FLAGS")
    drop(mailuser, message())
    s.ok("NOOP")
    s.ok("FETCH 1 FLAGS")
    assert s.cmd("FETCH 2 FLAGS")[-1].split()[1] == "BAD"


def test_examine_reports_recent(md, mailuser):
    """RFC 3501 6.3.2: EXAMINE answers RECENT like SELECT, and claims
    nothing, so a later SELECT still sees the messages as recent."""
    fill(mailuser, 3)
    s = sess(md, mailuser)
    r = s.ok("EXAMINE INBOX")
    assert "* 3 RECENT" in r, r
    r = s.ok("FETCH 1 FLAGS")
    assert "\\Recent" in r[0], r
    r = s.ok("SELECT INBOX")
    assert "* 3 RECENT" in r, r
    t = sess(md, mailuser)
    assert "* 0 RECENT" in t.ok("EXAMINE INBOX")


def test_logout_sends_nothing_after_bye(md, mailuser):
    """RFC 9051 6.1.3: after BYE the server sends the tagged OK and
    nothing about the mailbox."""
    fill(mailuser, 3, flags="")
    a, b = sess(md, mailuser), sess(md, mailuser)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    b.ok("STORE 2 +FLAGS (\\Seen)")
    r = a.cmd("LOGOUT")
    assert r[0].startswith("* BYE") and len(r) == 2, r


def test_fetch_with_an_expunged_message_answers_the_rest(md, mailuser):
    """RFC 2180 4.1: a FETCH that meets a message expunged by another
    session returns the others; the tagged answer is OK [EXPUNGEISSUED]
    (a NO would fail the whole batch in the client)."""
    fill(mailuser, 3, flags="")
    a, b = sess(md, mailuser), sess(md, mailuser)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 2 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.cmd("FETCH 1:3 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert r[-1].split()[1] == "OK" and "[EXPUNGEISSUED]" in r[-1], r
    got = [l for l in r if re.match(r"\* \d FETCH", l)]
    assert len(got) == 2 and not any(l.startswith("* 2 FETCH") for l in got)
    r = a.ok("NOOP")
    assert "* 2 EXPUNGE" in r, r


def test_search_from_matches_the_address(md, mailuser):
    """RFC 3501 6.4.4: FROM searches the envelope's FROM, i.e. the
    address, whatever comments the header holds."""
    drop(mailuser, "From: <user (comment)@ (comment) domain.org>\n"
         "Subject: x\n\nbody\n")
    drop(mailuser, "From: someone@else.org\nSubject: y\n\nbody\n")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("SEARCH FROM user@domain.org")
    assert "* SEARCH 1" in r, r


def test_search_subject_under_unicode_casemap(md, mailuser):
    """RFC 5051 i;unicode-casemap, the comparator of SEARCH: a matches
    the A of Ä."""
    drop(mailuser, "Subject: =?UTF-8?Q?=C3=84rger?=\n\nbody\n")
    drop(mailuser, "Subject: nothing here\n\nbody\n")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    assert "* SEARCH 1" in s.ok("SEARCH SUBJECT A")
    # the diaeresis stands between A and "rger" (RFC 5051 keeps it)
    assert "* SEARCH" in s.ok("SEARCH SUBJECT arger")   # no hits
    # the needle decomposed too: "ä" finds the "Ä"
    needle = "\u00e4RGER".encode()
    t = s.tag()
    s.raw.send(f"{t} SEARCH CHARSET UTF-8 SUBJECT {{{len(needle)}+}}\r\n"
               .encode() + needle + b"\r\n")
    r = s.read_tagged(t)
    assert r[-1].split()[1] == "OK" and "* SEARCH 1" in r, r


def test_id_at_the_rfc_maximum_before_login(server):
    """RFC 2971 3.3: 30 pairs, 30-byte fields, 1,024-byte values."""
    c = server.raw(tls=True)
    c.line()
    pairs = " ".join('"%s" "%s"' % (("f%02d" % i).ljust(30, "x"),
                                    "v" * 1024) for i in range(30))
    r = c.cmd("a", "ID (%s)" % pairs)
    assert r[-1].startswith("a OK"), r[-1]


def test_list_recursivematch_alone_is_bad(md, mailuser):
    """RFC 5258 3: RECURSIVEMATCH with no other selection option is
    BAD."""
    s = sess(md, mailuser)
    assert s.cmd('LIST (RECURSIVEMATCH) "" "*"')[-1].split()[1] == "BAD"
    s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"')


def test_condstore_client_learns_modseq_of_new_and_expunged(md, mailuser):
    """RFC 7162 3.1.2.1 and 3.1 (errata 1807): a client resuming with
    CHANGEDSINCE must learn a HIGHESTMODSEQ that covers messages that
    arrived or went (they carry no MODSEQ it sees), and every FETCH once
    CONDSTORE is on names the UID.  Without this a sync client takes its
    own APPENDs for changes at the next run (interimap did)."""
    fill(mailuser, 2, flags="S")
    s, other = sess(md, mailuser), sess(md, mailuser)
    s.ok("ENABLE CONDSTORE")
    r = s.ok("SELECT INBOX")
    first = int(re.search(r"HIGHESTMODSEQ (\d+)", " ".join(r)).group(1))
    body = imapdtest.crlf(message(subject="appended"))
    s.raw.send(f"t99 APPEND INBOX (\\Seen) {{{len(body)}+}}\r\n")
    s.raw.send(body + b"\r\n")
    r = s.read_tagged("t99")
    told = [int(m.group(1)) for l in r
            for m in [re.match(r"\* OK \[HIGHESTMODSEQ (\d+)\]", l)] if m]
    assert told and told[-1] > first, r
    uid = re.search(r"APPENDUID \d+ (\d+)", r[-1]).group(1)
    r = s.ok(f"UID FETCH {uid} (MODSEQ)")
    appended = int(re.search(r"MODSEQ \((\d+)\)", r[0]).group(1))
    assert appended <= told[-1], (appended, told)
    # nothing changed since: CHANGEDSINCE the told value reports nothing
    r = s.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {told[-1]})")
    assert len(r) == 1, r
    # an expunge by another session is covered the same way
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    r = s.ok("NOOP")
    assert any(l == "* 1 EXPUNGE" for l in r), r
    # untagged, or in the tagged OK as Dovecot does
    again = [int(m.group(1)) for l in r
             for m in [re.match(r"(?:\*|t\d+) OK \[HIGHESTMODSEQ (\d+)\]",
                                l)] if m]
    assert again and again[-1] > told[-1], r
    # STORE .SILENT under CONDSTORE: a FETCH with the UID and MODSEQ
    r = s.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert re.match(r"\* 1 FETCH \(UID \d+ MODSEQ \(\d+\)\)$", r[0]), r
