"""Runs the C unit tests (tests/*/test-*.c, built by make) for each build
and checks their "N passed, N failed" line."""

import os
import re
import subprocess

import pytest

import imapdtest

UNIT = sorted(
    str(p.relative_to(imapdtest.ROOT)).removesuffix(".c")
    for p in imapdtest.ROOT.glob("tests/*/test-*.c"))


def run_unit(build, name, **env):
    binary = build.objdir / name
    assert os.access(binary, os.X_OK), f"{binary} not built"
    e = build.env()
    e.update(env)
    p = subprocess.run([str(binary)], capture_output=True, timeout=600,
                       cwd="/tmp", env=e)
    out = (p.stdout.decode(errors="replace") +
           p.stderr.decode(errors="replace"))
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m, out
    assert int(m.group(1)) > 0, "no checks ran"
    assert p.returncode == 0 and m.group(2) == "0", out


@pytest.mark.parametrize("name", UNIT)
def test_unit(build, name):
    run_unit(build, name)


# The caches again with their files read instead of mapped, as imapd does
# on network and FUSE file systems (the mmap setting).
@pytest.mark.parametrize("name", ["tests/maildir/test-uidcache",
                                  "tests/maildir/test-uidcache-stress",
                                  "tests/maildir/test-msgcache",
                                  "tests/maildir/test-ftsindex",
                                  "tests/maildir/test-sortcache"])
def test_unit_without_mmap(build, name):
    run_unit(build, name, IMAPD_TEST_MMAP="no")
