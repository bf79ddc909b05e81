"""SORT (RFC 5256, RFC 5957), ESORT (RFC 5267) and THREAD (RFC 5256): each
rule of the RFCs with messages built for it, and the sort cache that makes
sorting again read no message file.

Messages are delivered in order, so sequence numbers follow the list; Date
fields ascend with them unless a test says otherwise."""

import os
import re

import pytest

import imapdtest
from imapdtest import Session, drop

BASE = 1700000000              # INTERNALDATE of the first message


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server


def mail(subject=None, date=None, frm="a@example.org", to="b@example.org",
         cc=None, msgid=None, refs=None, irt=None, body="x\n", n=0):
    """A message; date defaults to one that ascends with n."""
    h = []
    if frm is not None:
        h.append("From: " + frm)
    if to is not None:
        h.append("To: " + to)
    if cc is not None:
        h.append("Cc: " + cc)
    if subject is not None:
        h.append("Subject: " + subject)
    if date is None:
        date = "Mon, 2 Nov 2026 09:%02d:00 +0000" % n
    if date:
        h.append("Date: " + date)
    if msgid is not None:
        h.append("Message-ID: " + msgid)
    if refs is not None:
        h.append("References: " + refs)
    if irt is not None:
        h.append("In-Reply-To: " + irt)
    return "\n".join(h) + "\n\n" + body


def deliver(user, msgs, mtimes=None):
    for i, m in enumerate(msgs):
        drop(user, m, flags="S", mtime=mtimes[i] if mtimes else BASE + i)


def deliver_linked(user, rows):
    """Messages (subject, Message-ID, References), dates ascending."""
    deliver(user, [mail(subject=subj, msgid=mid, refs=refs, n=i)
                   for i, (subj, mid, refs) in enumerate(rows)])


def session(server, user):
    s = Session(server, user)
    s.ok("SELECT INBOX")
    return s


def sort(s, text):
    r = s.ok(text)
    lines = [l for l in r if l.startswith("* SORT")]
    assert len(lines) == 1, r
    return [int(x) for x in lines[0].split()[2:]]


def thread(s, text):
    r = s.ok(text)
    lines = [l for l in r if l.startswith("* THREAD")]
    assert len(lines) == 1, r
    return lines[0][len("* THREAD"):].strip()


# --- base subject (RFC 5256 2.1) ------------------------------------------

def test_base_subject_steps(md, mailuser):
    """Every artifact of RFC 5256 2.1, steps 1 to 6: one thread of
    ORDEREDSUBJECT is one base subject."""
    subjects = [
        "Lunch",                        # 1
        "Re: lunch",                    # (3) subj-refwd, any case
        "RE: [team] Lunch",             # (3) then (4) a blob
        "[team] Re: Lunch",             # (3) blobs before subj-refwd
        "Fwd: Re: Fw: lunch",           # (5) repeated
        "Lunch (fwd) (FWD)",            # (2) trailers, repeated
        "[fwd: Re: Lunch]",             # (6) subj-fwd, then from (2)
        "=?UTF-8?Q?Re=3A_Lunch?=",      # (1) an encoded word
        "Re[2]: Lunch",                 # (3) a blob inside subj-refwd
        "  Lunch \t ",                  # (1) blanks
        "Lunch break",                  # 11: another subject
        "[team]",                       # 12: (4) keeps a blob alone
        "Re: [team]",                   # 13: ... after (3)
        "Rex: Lunch",                   # 14: not a subj-refwd
        "[fwd: Lunch] x",               # 15: (4) a blob, not (6)
    ]
    deliver(mailuser, [mail(subject=x, n=i) for i, x in
                       enumerate(subjects)])
    s = session(md, mailuser)
    assert thread(s, "THREAD ORDEREDSUBJECT UTF-8 ALL") == \
        "(1 (2)(3)(4)(5)(6)(7)(8)(9)(10))(11)(12 13)(14)(15)"


def test_base_subject_compares_under_unicode_casemap(md, mailuser):
    """RFC 5256 7: strings collate by i;unicode-casemap (RFC 5051): case
    does not count, even outside ASCII, and a decomposed letter is its
    precomposed one; but RFC 5051's simple titlecase keeps ß apart from
    SS."""
    deliver(mailuser, [
        mail(subject="=?UTF-8?Q?=C3=84rger?=", n=0),          # Ärger
        mail(subject="=?UTF-8?Q?Re=3A_=C3=A4RGER?=", n=1),     # äRGER
        mail(subject="=?UTF-8?Q?A=CC=88rger?=", n=2),         # A + U+0308
        mail(subject="=?UTF-8?Q?Stra=C3=9Fe?=", n=3),         # Straße
        mail(subject="STRASSE", n=4),
        mail(subject="arger", n=5),
    ])
    s = session(md, mailuser)
    assert thread(s, "THREAD ORDEREDSUBJECT UTF-8 ALL") == \
        "(1 (2)(3))(4)(5)(6)"
    # ordered by the mapped text: ARGER < A+U+0308 < STRASSE < STRAßE
    assert sort(s, "SORT (SUBJECT) UTF-8 ALL") == [6, 1, 2, 3, 5, 4]


# --- SORT (RFC 5256 3) ----------------------------------------------------

def test_sort_subject_ties_and_reverse(md, mailuser):
    """Equal keys keep mailbox order, under REVERSE too (RFC 5256 3:
    REVERSE does not turn the implicit sequence order around); a missing
    field is the empty string, which comes first."""
    deliver(mailuser, [
        mail(subject="Re: beta", n=0),
        mail(subject="alpha", n=1),
        mail(subject="[x] gamma", n=2),
        mail(subject="Beta", n=3),
        mail(subject=None, n=4),
        mail(subject="ALPHA (fwd)", n=5),
    ])
    s = session(md, mailuser)
    assert sort(s, "SORT (SUBJECT) UTF-8 ALL") == [5, 2, 6, 1, 4, 3]
    assert sort(s, "SORT (REVERSE SUBJECT) UTF-8 ALL") == [3, 1, 4, 2, 6, 5]
    # a second criterion orders the ties
    assert sort(s, "SORT (SUBJECT REVERSE DATE) UTF-8 ALL") == \
        [5, 6, 2, 4, 1, 3]


def test_sort_date_arrival_and_fallback(md, mailuser):
    """DATE is the Date: field in UTC (RFC 5256 2.2's own example), or
    INTERNALDATE when there is none or it cannot be read; ARRIVAL is
    INTERNALDATE with its time."""
    t = 991400000               # June 2001
    deliver(mailuser, [
        mail(date="Mon, 1 Jan 2001 00:01:00 +0000"),
        mail(date="Sun, 31 Dec 2000 16:01:33 -0800"),   # 00:01:33 UTC
        mail(date="Sun, 31 Dec 2000 23:00:00 +0000"),
        mail(date=""),                                  # no Date
        mail(date="sometime next week"),
        mail(date="Mon, 1 Jan 2001 00:01:00 +0000"),    # ties with 1
    ], mtimes=[t + 50, t + 10, t + 30, 959800000, 1020000000, t + 10])
    s = session(md, mailuser)
    assert sort(s, "SORT (DATE) UTF-8 ALL") == [4, 3, 1, 6, 2, 5]
    assert sort(s, "SORT (REVERSE DATE) UTF-8 ALL") == [5, 2, 1, 6, 3, 4]
    assert sort(s, "SORT (ARRIVAL) UTF-8 ALL") == [4, 2, 6, 3, 1, 5]
    assert sort(s, "SORT (REVERSE ARRIVAL DATE) UTF-8 ALL") == \
        [5, 1, 3, 6, 2, 4]


def test_sort_size(md, mailuser):
    """SIZE is RFC822.SIZE: the size with CRLF line ends (message 2 is
    the smaller file, but the larger message)."""
    deliver(mailuser, [
        mail(body="x" * 300 + "\n"),
        mail(body="x\n" * 120),
        mail(body="x" * 10 + "\n"),
        mail(body="x" * 300 + "\n"),
    ])
    s = session(md, mailuser)
    r = s.ok("FETCH 1:4 RFC822.SIZE")
    sizes = [int(re.search(r"RFC822.SIZE (\d+)", l).group(1))
             for l in r[:-1]]
    want = sorted(range(1, 5), key=lambda i: (sizes[i - 1], i))
    assert sort(s, "SORT (SIZE) UTF-8 ALL") == want
    assert want == [3, 1, 4, 2]


def test_sort_addresses_and_display(md, mailuser):
    """FROM, TO and CC are the mailbox of the first address (RFC 5256
    3); DISPLAYFROM and DISPLAYTO its decoded name, else mailbox@host,
    else the mailbox (RFC 5957 3)."""
    deliver(mailuser, [
        mail(frm='"Zed" <alice@x.org>', to="undisclosed-recipients:;",
             cc="b@x.org"),
        mail(frm="Bob <bob@x.org>, Aaron <aaron@x.org>",
             to="Mallory <zz@x.org>", cc="a@x.org"),
        mail(frm="carol@x.org", to="<yy@x.org>"),
        mail(frm=None, to="ab@x.org"),
        mail(frm='"=?UTF-8?Q?=C3=84rger?=" <dave@x.org>', to=None),
    ])
    s = session(md, mailuser)
    assert sort(s, "SORT (FROM) UTF-8 ALL") == [4, 1, 2, 3, 5]
    assert sort(s, "SORT (DISPLAYFROM) UTF-8 ALL") == [4, 5, 2, 3, 1]
    # a group's name is the mailbox of its first "address"
    assert sort(s, "SORT (TO) UTF-8 ALL") == [5, 4, 1, 3, 2]
    assert sort(s, "SORT (DISPLAYTO) UTF-8 ALL") == [5, 4, 2, 1, 3]
    assert sort(s, "SORT (CC REVERSE ARRIVAL) UTF-8 ALL") == [5, 4, 3, 2, 1]


def test_sort_search_charset_and_uid(md, mailuser):
    """The search criteria are SEARCH's, read in the charset SORT names
    (UTF-8 and US-ASCII); UID SORT answers UIDs; EXPUNGE is held back
    during SORT (RFC 5256 3)."""
    deliver(mailuser, [
        mail(subject="=?UTF-8?Q?gr=C3=BC=C3=9Fe?= b", n=0),
        mail(subject="plain a", n=1),
        mail(subject="=?UTF-8?Q?GR=C3=9C=C3=9FE?= a", n=2),
        mail(subject="gone", n=3),
    ])
    s = session(md, mailuser)
    s.ok("STORE 4 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    needle = "grüße".encode()
    t = s.tag()
    s.raw.send(f"{t} SORT (SUBJECT) UTF-8 SUBJECT {{{len(needle)}+}}\r\n"
               .encode() + needle + b"\r\n")
    r = s.read_tagged(t)
    assert "* SORT 3 1" in r and r[-1].split()[1] == "OK", r
    assert sort(s, "SORT (SUBJECT) US-ASCII OR SUBJECT plain "
                "SUBJECT gr") == [3, 1, 2]
    assert sort(s, "UID SORT (SUBJECT) utf-8 ALL") == [3, 1, 2]
    # UIDs differ from sequence numbers once one is expunged
    s.ok("STORE 1 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    assert sort(s, "UID SORT (SUBJECT) UTF-8 ALL") == [3, 2]
    assert sort(s, "SORT (SUBJECT) UTF-8 ALL") == [2, 1]
    assert s.cmd("SORT (SUBJECT) X-UNKNOWN ALL")[-1].split()[1:3] == \
        ["NO", "[BADCHARSET"]
    for bad in ("SORT (SUBJECT) UTF-8", "SORT () UTF-8 ALL",
                "SORT (REVERSE) UTF-8 ALL", "SORT (NAME) UTF-8 ALL",
                "SORT SUBJECT UTF-8 ALL", "SORT (SUBJECT) UTF-8 FOO",
                "SORT (REVERSE REVERSE DATE) UTF-8 ALL"):
        assert s.cmd(bad)[-1].split()[1] == "BAD", bad


def test_sort_holds_back_expunges(md, mailuser):
    """RFC 5256 3: no untagged EXPUNGE during SORT or THREAD (they are
    allowed during UID SORT)."""
    deliver(mailuser, [mail(subject="s%d" % i, n=i) for i in range(3)])
    a, b = session(md, mailuser), session(md, mailuser)
    b.ok("STORE 2 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    for cmd in ("SORT (SUBJECT) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"):
        r = a.ok(cmd)
        assert not any("EXPUNGE" in l for l in r), r
    r = a.ok("UID SORT (SUBJECT) UTF-8 ALL")
    assert "* 2 EXPUNGE" in r, r
    assert "* SORT 1 3" in r, r


# --- ESORT (RFC 5267) and SEARCHRES (RFC 5182) ----------------------------

def test_esort_return_options(md, mailuser):
    """RFC 5267 3: MIN and MAX are the first and last in sort order, ALL
    is the sort order with ranges only where numbers ascend, COUNT as in
    ESEARCH, RETURN () is ALL, and the answer is an ESEARCH response."""
    deliver(mailuser, [mail(subject=x, n=i) for i, x in enumerate(
        ["c", "a", "b", "d", "e", "f"])])
    s = session(md, mailuser)
    r = s.ok("SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL")
    assert r[0] == '* ESEARCH (TAG "%s") MIN 2 MAX 6 COUNT 6' % \
        r[-1].split()[0], r
    r = s.ok("SORT RETURN (ALL) (SUBJECT) UTF-8 ALL")
    assert r[0].endswith(" ALL 2:3,1,4:6"), r
    r = s.ok("SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL")
    assert r[0].endswith(" ALL 6,5,4,1,3,2"), r
    s.ok("STORE 1 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    r = s.ok("UID SORT RETURN (COUNT ALL) (SUBJECT) UTF-8 ALL")
    assert re.match(r'\* ESEARCH \(TAG "t\d+"\) UID COUNT 5 ALL 2:6$',
                    r[0]), r
    r = s.ok("SORT RETURN (MIN MAX) (SUBJECT) UTF-8 SUBJECT nothing")
    assert re.match(r'\* ESEARCH \(TAG "t\d+"\)$', r[0]), r
    assert s.cmd("SORT RETURN (FOO) (SUBJECT) UTF-8 ALL")[-1].split()[1] \
        == "BAD"


def test_sort_save_result(md, mailuser):
    """RFC 5182 with RFC 5267: SORT RETURN (SAVE) keeps the result as $;
    with MIN or MAX alone besides it, only those messages (RFC 5182
    2.4), for SEARCH as well."""
    deliver(mailuser, [mail(subject=x, n=i) for i, x in enumerate(
        ["c", "a", "b", "d"])])
    s = session(md, mailuser)
    r = s.ok("SORT RETURN (SAVE) (SUBJECT) UTF-8 NOT SUBJECT d")
    assert not any(l.startswith("* ESEARCH") for l in r), r
    r = s.ok("FETCH $ (UID)")
    assert [l.split()[1] for l in r[:-1]] == ["1", "2", "3"], r
    s.ok("SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL")
    r = s.ok("FETCH $ (UID)")
    assert [l.split()[1] for l in r[:-1]] == ["4"], r
    s.ok("SORT RETURN (SAVE MIN MAX) (SUBJECT) UTF-8 ALL")
    r = s.ok("FETCH $ (UID)")
    assert [l.split()[1] for l in r[:-1]] == ["2", "4"], r
    s.ok("SEARCH RETURN (SAVE MAX) ALL")
    r = s.ok("FETCH $ (UID)")
    assert [l.split()[1] for l in r[:-1]] == ["4"], r
    s.ok("SEARCH RETURN (SAVE MAX COUNT) ALL")
    r = s.ok("FETCH $ (UID)")
    assert len(r) == 5, r


# --- THREAD (RFC 5256 3) --------------------------------------------------

def test_thread_orderedsubject(md, mailuser):
    """Messages sorted by base subject then sent date; a thread for each
    subject, its first message on top and the others its children; the
    threads by the date of their first message."""
    deliver(mailuser, [
        mail(subject="b", date="Mon, 2 Nov 2026 10:03:00 +0000"),
        mail(subject="a", date="Mon, 2 Nov 2026 10:01:00 +0000"),
        mail(subject="Re: b", date="Mon, 2 Nov 2026 10:02:00 +0000"),
        mail(subject="a", date="Mon, 2 Nov 2026 10:04:00 +0000"),
        mail(subject="Re: a", date="Mon, 2 Nov 2026 10:00:00 +0000"),
        mail(subject="c", date="Mon, 2 Nov 2026 10:05:00 +0000"),
    ])
    s = session(md, mailuser)
    assert thread(s, "THREAD ORDEREDSUBJECT UTF-8 ALL") == \
        "(5 (2)(4))(3 1)(6)"
    assert thread(s, "UID THREAD ORDEREDSUBJECT UTF-8 NOT SUBJECT c") == \
        "(5 (2)(4))(3 1)"
    assert thread(s, "THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing") == ""


def test_thread_references_links_and_dummies(md, mailuser):
    """Step 1: References link each ID to the next, In-Reply-To stands in
    when References has no valid ID; missing messages become dummies
    (step 3: a dummy with one child gives it its place, one with several
    stays at the top and shows as a list of lists); step 6: siblings by
    date."""
    deliver(mailuser, [
        mail(subject="topic", msgid="<a@t>", n=0),
        mail(subject="Re: topic", msgid="<b@t>", refs="<a@t>", n=1),
        mail(subject="Re: topic", msgid="<c@t>", refs="<a@t> <b@t>",
             n=5),
        mail(subject="Re: topic", msgid="<d@t>", irt="<b@t>", n=4),
        mail(subject="other", msgid="<e@t>", refs="<missing@t>", n=6),
        mail(subject="Re: other", msgid="<f@t>", refs="<missing@t>", n=7),
        mail(subject="lonely", msgid="<g@t>", refs="<gone@t> <gone2@t>",
             n=8),
        mail(subject="fallback", msgid="<h@t>", refs="not an id",
             irt="junk <e@t> <f@t>", n=9),
    ])
    s = session(md, mailuser)
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "(1 2 (4)(3))((5 8)(6))(7)"
    # only the searched messages are threaded: without 2, its children
    # move up to its parent (step 3)
    assert thread(s, "THREAD REFERENCES UTF-8 NOT UID 2") == \
        "(1 (4)(3))((5 8)(6))(7)"


def test_thread_references_ids(md, mailuser):
    """Message IDs are normalized (RFC 5256 3: <"a.b"@c> is <a.b@c>)
    and compared case-sensitively; a second message with an ID gets one
    of its own; a link that would make a loop is not made."""
    deliver_linked(mailuser, [
        ("one", '<"a.b"@t>', None),
        ("two", "<x@t>", "<a.b@t>"),
        ("three", "<Case@t>", None),
        ("four", "<y@t>", "<case@t>"),
        ("five", "<dup@t>", None),
        ("six", "<dup@t>", None),
        ("seven", "<z@t>", "<dup@t>"),
        ("eight", "<p@t>", "<q@t>"),
        ("nine", "<q@t>", "<p@t>"),
    ])
    s = session(md, mailuser)
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "(1 2)(3)(4)(5 7)(6)(9 8)"


def test_thread_references_keeps_first_links(md, mailuser):
    """Step 1.A: a message that has a parent keeps it (References may be
    cut short); step 1.B: the last reference is a message's parent
    whatever earlier References said."""
    deliver_linked(mailuser, [
        ("a", "<q@t>", "<p1@t>"),
        ("b", "<z@t>", "<p2@t> <q@t>"),
        ("c", "<w@t>", "<p2@t>"),
        ("d", "<e@t>", "<r@t> <m@t>"),
        ("e", "<m@t>", "<s@t>"),
        ("f", "<v@t>", "<r@t>"),
    ])
    s = session(md, mailuser)
    # 1.A: q stays under p1, so p2 has one child left and gives it its
    # place; 1.B: m moves from r to s, r keeps only 6
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "(1 2)(3)(5 4)(6)"


def test_thread_references_subjects(md, mailuser):
    """Step 5: threads whose subjects agree become one: a reply goes
    under the message it answers, two messages that are not replies get a
    dummy parent; a thread without a subject stays alone; a dummy's
    subject is its first child's."""
    deliver(mailuser, [
        mail(subject="meeting", n=0),
        mail(subject="Re: meeting", n=1),
        mail(subject="meeting", n=2),
        mail(subject="Re: plan", n=3),
        mail(subject="plan", n=4),
        mail(subject=None, n=5),
        mail(subject=None, n=6),
        mail(subject="topic (fwd)", msgid="<k@t>", refs="<lost@t>", n=7),
        mail(subject="Re: topic", msgid="<l@t>", refs="<lost@t>", n=8),
        mail(subject="topic", n=9),
        mail(subject="[fwd: topic]", n=10),
    ])
    s = session(md, mailuser)
    # the dummy of 8 and 9 takes 10 and 11 in with them
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "((1 2)(3))(5 4)(6)(7)((8)(9)(10)(11))"


def test_thread_references_orders_by_sent_date(md, mailuser):
    """Steps 4 and 6: threads and siblings by sent date, whatever the
    mailbox order; a dummy sorts as its first child."""
    deliver(mailuser, [
        mail(subject="late", msgid="<r@t>",
             date="Mon, 2 Nov 2026 12:00:00 +0000"),
        mail(subject="x", msgid="<c1@t>", refs="<r@t>",
             date="Mon, 2 Nov 2026 14:00:00 +0000"),
        mail(subject="y", msgid="<c2@t>", refs="<r@t>",
             date="Mon, 2 Nov 2026 13:00:00 +0000"),
        mail(subject="early1", refs="<nothere@t>",
             date="Mon, 2 Nov 2026 09:00:00 +0000"),
        mail(subject="early2", refs="<nothere@t>",
             date="Mon, 2 Nov 2026 08:00:00 +0000"),
        mail(subject="middle", date="Mon, 2 Nov 2026 10:00:00 +0000"),
    ])
    s = session(md, mailuser)
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "((5)(4))(6)(1 (3)(2))"


def test_thread_long_chain(md, mailuser):
    """A thread as deep as the folder: each message answers the one
    before (In-Reply-To only); one list of 1,500 numbers."""
    n = 1500
    deliver(mailuser, [mail(subject="chain", msgid="<c%d@t>" % i,
                            irt="<c%d@t>" % (i - 1) if i else None,
                            date="Mon, 2 Nov 2026 10:00:%02d +0000" % (i % 60))
                       for i in range(n)])
    s = session(md, mailuser)
    assert thread(s, "THREAD REFERENCES UTF-8 ALL") == \
        "(" + " ".join(str(i) for i in range(1, n + 1)) + ")"


def test_thread_bad_arguments(md, mailuser):
    deliver(mailuser, [mail(subject="x")])
    s = session(md, mailuser)
    for bad in ("THREAD FOO UTF-8 ALL", "THREAD REFERENCES UTF-8",
                "THREAD REFERENCES", "THREAD (REFERENCES) UTF-8 ALL"):
        assert s.cmd(bad)[-1].split()[1] == "BAD", bad
    assert s.cmd("THREAD REFERENCES KOI8-X ALL")[-1].split()[1:3] == \
        ["NO", "[BADCHARSET"]


# --- the sort cache -------------------------------------------------------

def test_second_sort_reads_no_message_file(md, mailuser):
    """Keys are kept: once a folder was sorted, sorting and threading it
    again in a new session work with every message file unreadable."""
    deliver(mailuser, [mail(subject="s%d" % (i % 3), msgid="<m%d@t>" % i,
                            refs="<m%d@t>" % (i // 2) if i else None, n=i)
                       for i in range(12)])
    s = session(md, mailuser)
    first = [sort(s, "SORT (REVERSE DATE) UTF-8 ALL"),
             sort(s, "SORT (SUBJECT) UTF-8 ALL"),
             thread(s, "THREAD REFERENCES UTF-8 ALL")]
    s.close()
    cur = mailuser.maildir() / "cur"
    files = list(cur.iterdir())
    for f in files:
        f.chmod(0)
    try:
        t = session(md, mailuser)
        again = [sort(t, "SORT (REVERSE DATE) UTF-8 ALL"),
                 sort(t, "SORT (SUBJECT) UTF-8 ALL"),
                 thread(t, "THREAD REFERENCES UTF-8 ALL")]
        # a FETCH that needs a file fails: the files are unreadable
        r = t.cmd("FETCH 1 BODY.PEEK[]")
        assert "BODY[]" not in " ".join(r), r
    finally:
        for f in files:
            f.chmod(0o600)
    assert again == first
    assert first[0] == list(range(12, 0, -1))


def test_sort_cache_follows_the_folder(md, mailuser):
    """New messages get keys, expunged ones leave none behind that
    matter, and a damaged cache file costs only time."""
    deliver(mailuser, [mail(subject="m%02d" % i, n=i) for i in range(5)])
    s = session(md, mailuser)
    assert sort(s, "SORT (REVERSE SUBJECT) UTF-8 ALL") == [5, 4, 3, 2, 1]
    drop(mailuser, mail(subject="m00 again", n=9), flags="S")
    s.ok("NOOP")
    assert sort(s, "SORT (SUBJECT) UTF-8 ALL") == [1, 6, 2, 3, 4, 5]
    s.ok("STORE 1:2 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    assert sort(s, "SORT (SUBJECT) UTF-8 ALL") == [4, 1, 2, 3]
    cache = mailuser.maildir() / "imapd-sortcache"
    assert cache.exists()
    data = bytearray(cache.read_bytes())
    for i in range(20, len(data), 7):
        data[i] ^= 0x5a
    cache.write_bytes(bytes(data))
    t = session(md, mailuser)
    assert sort(t, "SORT (SUBJECT) UTF-8 ALL") == [4, 1, 2, 3]
    assert thread(t, "THREAD ORDEREDSUBJECT UTF-8 ALL") == "(1)(2)(3)(4)"
    # and it was made whole again
    u = session(md, mailuser)
    cur = mailuser.maildir() / "cur"
    files = list(cur.iterdir())
    for f in files:
        f.chmod(0)
    try:
        assert sort(u, "SORT (SUBJECT) UTF-8 ALL") == [4, 1, 2, 3]
    finally:
        for f in files:
            f.chmod(0o600)
    assert os.path.getsize(cache) > 16
