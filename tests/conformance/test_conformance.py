"""The conformance scripts (tests/conformance/scripts, format in
tests/conformance/README) against imapd: one test per script and build.

A script that requires a capability imapd does not advertise is skipped;
one that fails at a line DIFFERENCES lists for imapd is an expected
failure; every other failure shows the line, what imapd sent instead,
and the session's transcript.  `make conformance` runs the same scripts
against Dovecot as well."""

import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import imapscript  # noqa: E402
import servers  # noqa: E402

SCRIPTS = imapscript.all_scripts()
DIFFS = imapscript.Differences()


def test_differences_file():
    assert DIFFS.check(SCRIPTS) == []


@pytest.fixture(scope="module")
def imapd(build, workdir, cert, mailuser):
    homes = servers.Homes(workdir / ("conformance-" + build.name),
                          mailuser.uid, mailuser.gid)
    logins = [servers.login_name(i) for i in range(len(SCRIPTS))]
    logins.append("cfcaps")
    udb = servers.imapd_userdb(build, workdir, logins, homes,
                               mailuser.uid, mailuser.gid)
    srv = servers.start_imapd(build, workdir, cert, mailuser, udb,
                              name="conformance-" + build.name)
    caps = imapscript.capabilities(servers.imapd_target(
        srv, "cfcaps", homes.fresh("imapd", "cfcaps"), mailuser))
    yield srv, homes, caps
    srv.stop()


@pytest.mark.parametrize("index", range(len(SCRIPTS)),
                         ids=[s.name for s in SCRIPTS])
def test_script(imapd, mailuser, index):
    srv, homes, caps = imapd
    script = SCRIPTS[index]
    login = servers.login_name(index)
    before = len(srv.sanitizer_reports())
    target = servers.imapd_target(srv, login, homes.fresh("imapd", login),
                                  mailuser)
    target.capabilities = caps
    out = imapscript.Runner(script, target).run()
    reports = srv.sanitizer_reports()[before:]
    cls, detail = imapscript.classify(out, script, "imapd", DIFFS)
    if reports:
        pytest.fail("sanitizer reports:\n%s\n(the script: %s%s)" % (
            "\n".join(reports), cls,
            " at line %d: %s" % (out.lineno, out.message)
            if cls == "fail" else ""), pytrace=False)
    if cls == "skip":
        pytest.skip(detail)
    if cls == "known":
        pytest.xfail("line %d: %s" % (out.lineno, detail))
    if cls == "stale":
        pytest.fail("passes, but DIFFERENCES lists a difference for imapd: "
                    + detail)
    if cls == "fail":
        pytest.fail("%s line %d: %s\n--- transcript ---\n%s" % (
            script.path.name, out.lineno, out.message, out.transcript),
            pytrace=False)
