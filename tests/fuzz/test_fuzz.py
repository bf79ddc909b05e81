"""The short pass of the fuzz targets (tests/fuzz), for `make check`:
every seed and regression input once, then a second of fuzzing from a
fixed seed, per target.  A target that no longer builds, or an input
that crashes again, fails here; `make fuzz` fuzzes for longer.

The targets are built by `make fuzz-build` (which `make check` runs) into
obj-fuzz/, or IMAPD_FUZZ_OBJ; IMAPD_FUZZ_SECONDS lengthens the fuzzing.
"""

import os
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import fuzzrun  # noqa: E402

OBJ = pathlib.Path(os.environ.get("IMAPD_FUZZ_OBJ",
                                  fuzzrun.ROOT / "obj-fuzz"))
SECONDS = int(os.environ.get("IMAPD_FUZZ_SECONDS", "1"))


def test_every_target_is_built_by_make():
    listed = re.findall(r"tests/fuzz/fuzz-([\w-]+)",
                        (fuzzrun.ROOT / "Makefile").read_text())
    assert sorted(set(listed)) == fuzzrun.targets()


@pytest.mark.parametrize("name", fuzzrun.targets())
def test_fuzz_target(name, tmp_path):
    b = fuzzrun.binary(OBJ, name)
    assert os.access(b, os.X_OK), f"{b} is not built (make fuzz-build)"
    corpus = fuzzrun.HERE / "corpus" / name
    seeds = list(corpus.iterdir()) if corpus.is_dir() else []
    assert seeds, f"{corpus} holds no seed inputs"
    regress = fuzzrun.HERE / "regress" / name
    nregress = len(list(regress.iterdir())) if regress.is_dir() else 0
    rc, out = fuzzrun.run(OBJ, name, SECONDS, tmp_path / "new",
                          tmp_path / "crashes", seed=1, timeout=600)
    assert rc == 0, f"fuzz-{name} failed:\n" + fuzzrun.crash_report(out)
    runs, _, _ = fuzzrun.stats(out)
    # each seed and regression input ran (the fuzzer may merge equal ones)
    m = re.search(r"INFO:\s+(\d+) files found in .*corpus/" + re.escape(name),
                  out)
    assert m and int(m.group(1)) == len(seeds), out[-2000:]
    assert runs >= 1, out[-2000:]
    if nregress:
        assert re.search(r"INFO:\s+%d files found in .*regress/%s" % (
            nregress, re.escape(name)), out), out[-2000:]
