"""Literals are held to the grammar.  A client may send a literal only
where the command has a string (RFC 9051 section 9: astring, string,
nstring) and only as long as a string there can be; the server says so
before the "+" continuation, and for a non-synchronizing literal (RFC
7888) before it reads the bytes.  A NUL in a literal is refused, never
cut short (only literal8, RFC 3516, may carry one)."""

import re

import imapdtest
from imapdtest import Session


def first_line_for(s, tag, text):
    """Send a command that ends in a literal announcement; return the
    server's first line after it (a "+" or the tagged answer)."""
    s.raw.send(f"{tag} {text}\r\n")
    return s.raw.line()


def test_literal_where_grammar_has_no_string(server, mailuser):
    """NOOP takes no argument: a 32 MiB literal there is BAD at once,
    with no continuation, and the session goes on."""
    s = Session(server, mailuser)
    line = first_line_for(s, "a1", "NOOP {33554432}")
    assert line.startswith("a1 BAD "), line
    r = s.ok("NOOP")
    assert not any(l.startswith("+") for l in r), r
    server.wait_log(r"NOOP: refused a literal of 33554432 bytes "
                    r"\(no string there\)")
    for text in ("STORE 1 FLAGS {5}", "ENABLE {8}", "EXPUNGE {1}",
                 "FROBNICATE {3}", "UID {4}", "SELECT INBOX ({9}",
                 "APPEND INBOX ({5}"):
        t = s.tag()
        line = first_line_for(s, t, text)
        assert line.startswith(t + " BAD "), (text, line)
    s.ok("NOOP")


def test_literal_too_long_for_its_place(server, mailuser):
    """A mailbox name is at most 1024 bytes, a search string 8 KiB: a
    longer literal is NO [TOOBIG] before the continuation."""
    s = Session(server, mailuser)
    line = first_line_for(s, "a1", "SELECT {1025}")
    assert line.startswith("a1 NO [TOOBIG]") and "1024" in line, line
    s.ok("SELECT INBOX")
    line = first_line_for(s, "a2", "SEARCH TEXT {8193}")
    assert line.startswith("a2 NO [TOOBIG]") and "8192" in line, line
    line = first_line_for(s, "a3", "UID COPY 1 {1025}")
    assert line.startswith("a3 NO [TOOBIG]"), line
    server.wait_log(r"SELECT: refused a literal of 1025 bytes \(the "
                    r"limit for a string in this place there is 1024 "
                    r"bytes\)")
    s.ok("NOOP")


def test_literals_where_the_grammar_has_strings(server, mailuser):
    """Every place a string stands still takes a literal."""
    imapdtest.maildir_reset(mailuser)
    imapdtest.drop(mailuser, imapdtest.message(subject="lit"))
    s = Session(server, mailuser)

    def lit(text, *parts):
        t = s.tag()
        s.raw.send(f"{t} {text}\r\n")
        for p in parts:
            assert s.raw.line().startswith("+"), text
            s.raw.send(p)
        r = s.read_tagged(t)
        assert r[-1].startswith(t + " OK"), (text, r)
        return r

    lit("SELECT {5}", "INBOX\r\n")
    lit("CREATE {3}", "A/B\r\n")
    lit("RENAME {3}", "A/B {3}\r\n", "A/C\r\n")
    r = lit('LIST "" {1}', "*\r\n")
    assert any('"A/C"' in l for l in r), r
    lit("STATUS {3}", "A/C (MESSAGES)\r\n")
    lit("UID COPY 1 {3}", "A/C\r\n")
    r = lit("SEARCH SUBJECT {3}", "lit\r\n")
    assert "* SEARCH 1" in r, r
    r = lit("SORT (SUBJECT) {5}", "UTF-8 SUBJECT {3}\r\n", "lit\r\n")
    assert "* SORT 1" in r, r
    r = lit("UID THREAD REFERENCES UTF-8 SUBJECT {3}", "lit\r\n")
    assert any(l.startswith("* THREAD (") for l in r), r
    r = lit("FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7}", "Subject)])\r\n")
    assert "Subject: lit" in r[0], r
    lit("ID ({4}", 'name "x")\r\n')
    lit("SUBSCRIBE {3}", "A/C\r\n")
    lit("DELETE {3}", "A/C\r\n")


def test_nonsync_literal_refused_is_skipped(server, mailuser):
    """RFC 7888 section 4: the bytes of a refused {n+} literal are on
    their way; they are read and dropped, never taken as commands."""
    s = Session(server, mailuser)
    s.raw.send("a1 NOOP {10+}\r\nx2 LOGOUT\r\n")
    line = s.raw.line()
    assert line.startswith("a1 BAD "), line
    data = "x3 LOGOUT\r\n" * 272 + "x4 NOOP"
    assert len(data) == 2999
    s.raw.send("a2 SELECT {3000+}\r\n" + data + " \r\n")
    line = s.raw.line()
    assert line.startswith("a2 BAD [TOOBIG]"), line
    r = s.ok("NOOP")
    assert not any("BYE" in l or l.startswith("x") for l in r), r


def test_nonsync_literal_larger_than_any_closes(server, mailuser):
    """A refused {n+} literal larger than APPENDLIMIT is not read: BAD
    [TOOBIG], BYE, and the connection closes."""
    s = Session(server, mailuser)
    s.raw.send("a1 APPEND INBOX {100000000+}\r\n" + "x" * 4096)
    line = s.raw.line()
    assert line.startswith("a1 BAD [TOOBIG]"), line
    assert s.raw.line().startswith("* BYE"), s.raw.buf
    assert s.raw.closed()
    server.wait_log(r"APPEND: refused a literal of 100000000 bytes")


def test_literal8_only_for_messages(server, mailuser):
    s = Session(server, mailuser)
    s.ok("SELECT INBOX")
    line = first_line_for(s, "a1", "SEARCH TEXT ~{3}")
    assert line.startswith("a1 BAD ") and "literal8" in line, line
    line = first_line_for(s, "a2", "SELECT ~{5}")
    assert line.startswith("a2 BAD "), line
    s.ok("NOOP")


def test_nul_in_literal_is_bad_not_cut(server, mailuser):
    """A mailbox name with a NUL is not the name before it."""
    s = Session(server, mailuser)
    s.raw.send("a1 SELECT {9}\r\n")
    assert s.raw.line().startswith("+")
    s.raw.send(b"INBOX\0JNK\r\n")
    r = s.read_tagged("a1")
    assert r[-1].startswith("a1 BAD ") and "NUL" in r[-1], r
    assert not any("EXISTS" in l for l in r), r
    s.ok("NOOP")


def test_nul_in_password_literal_is_not_a_login(server, userdb):
    """Before login too: "vpass\\0JUNK" is not the password "vpass"."""
    c = server.raw(tls=True)
    c.line()
    pw = userdb["password"].encode() + b"\0JUNK"
    c.send(f"a LOGIN {userdb['user']} {{{len(pw)}}}\r\n")
    assert c.line().startswith("+")
    c.send(pw + b"\r\n")
    r = c.until_tagged("a")
    assert r[-1].startswith("a BAD ") and "NUL" in r[-1], r
    r = c.cmd("b", "NAMESPACE")
    assert r[-1].startswith("b BAD"), r
    # the right password still works on the same connection
    pw = userdb["password"].encode()
    c.send(f"c LOGIN {userdb['user']} {{{len(pw)}}}\r\n")
    assert c.line().startswith("+")
    c.send(pw + b"\r\n")
    assert c.until_tagged("c")[-1].startswith("c OK")
    server.wait_log(r"user=vuser .*logged in")
    assert len(re.findall(r"user=vuser .*logged in", server.log())) == 1


def test_literals_before_login_only_for_credentials(server):
    c = server.raw(tls=True)
    c.line()
    r = c.cmd("a", "CAPABILITY {5}")
    assert r[-1].startswith("a BAD"), r
    r = c.cmd("b", "SELECT {5}")
    assert r[-1].startswith("b BAD"), r
    c.send("c ID ({4}\r\n")
    assert c.line().startswith("+")
    c.send('name "x")\r\n')
    assert c.until_tagged("c")[-1].startswith("c OK")
