"""Shared fixtures: the builds under test, a certificate, a mail user, and
real imapd servers on free loopback ports.

IMAPD_BUILDS (set by `make check`) names the builds to run the suite
against, "name=objdir:bindir,..."; every test that takes the `build`
fixture runs once per build.  Without it, the plain in-tree build is used.

As root (as CI runs), the mail user is a real throw-away Unix account with
a password and its own PAM service file, and imapd runs as root with the
full privilege separation.  As an ordinary user, imapd serves only that
user and PAM runs through pam_wrapper (Debian's libpam-wrapper).
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "lib"))

import imapdtest  # noqa: E402

ROOT = imapdtest.ROOT


def _builds():
    spec = os.environ.get("IMAPD_BUILDS", "plain=obj:.")
    out = []
    for item in spec.split(","):
        name, _, dirs = item.partition("=")
        objdir, _, bindir = dirs.partition(":")
        out.append(imapdtest.Build(name, ROOT / objdir, ROOT / bindir))
    return out


BUILDS = _builds()


@pytest.fixture(scope="session", params=BUILDS, ids=[b.name for b in BUILDS])
def build(request):
    b = request.param
    for p in (b.imapd, b.userdb_tool):
        if not os.access(p, os.X_OK):
            pytest.fail(f"{p} is not built (run make / make san)")
    return b


@pytest.fixture(scope="session")
def workdir():
    """A scratch directory every test user can traverse (pytest's own
    tmp_path lives under a 0700 directory that a dropped uid cannot
    enter)."""
    d = imapdtest.make_workdir()
    yield d
    imapdtest.remove_tree(d)


@pytest.fixture(scope="session")
def cert(workdir):
    return imapdtest.make_cert(workdir / "tls")


@pytest.fixture(scope="session")
def mailuser(workdir):
    u = imapdtest.make_mailuser(workdir)
    yield u
    u.remove()


@pytest.fixture(scope="session")
def userdb(workdir, mailuser):
    return imapdtest.make_userdb(workdir / "userdb", mailuser)


@pytest.fixture
def server_factory(build, workdir, cert, mailuser, userdb, request):
    servers = []

    def make(env_extra=None, **overrides):
        """A started server with these imapd.conf settings; env_extra
        is added to its environment (LD_PRELOAD, say)."""
        s = imapdtest.Server(build, workdir, cert, mailuser, userdb,
                             overrides, name=request.node.name,
                             env_extra=env_extra)
        servers.append(s)
        s.start()
        return s

    yield make
    problems = []
    for s in servers:
        s.stop()
        problems += s.sanitizer_reports() + s.sandbox_kills()
        # shown by pytest only when the test failed
        print(f"--- imapd log ({s.log_path}) ---\n{s.log()}")
    assert not problems, "sanitizer reports or sandbox kills:\n" + \
        "\n".join(problems)


@pytest.fixture
def server(server_factory):
    return server_factory()
