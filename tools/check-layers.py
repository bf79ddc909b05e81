#!/usr/bin/python3
"""Check that the sources include only down the layers HACKING describes.

Each folder of C sources may include headers from the folders listed for
it below and from no other: the runtime (common/lib) only from itself,
the mail formats (common/mail) from the runtime too, IMAP syntax
(common/imap) from both, the store (maildir) from all of common, the
daemon (imapd) from everything but the tools, the tools from everything
but the daemon.  The tests may reach any module and are not checked.

Besides, every quoted include names its folder (so that this check sees
it), and every source file of common/ sits in one of its layers.

Run from the top of the tree (`make layers`); prints each include that
runs against the layering as FILE:LINE and exits 1 if there was one.
"""

import pathlib
import re
import sys

LIB = "common/lib/"
MAIL = "common/mail/"
IMAP = "common/imap/"
COMMON = [LIB, MAIL, IMAP]

# a folder, and the folders its files may include from
ALLOWED = {
    LIB: [LIB],
    MAIL: [LIB, MAIL],
    IMAP: [LIB, MAIL, IMAP],
    "maildir/": COMMON + ["maildir/"],
    "imapd/": COMMON + ["maildir/", "imapd/"],
    "tools/": COMMON + ["maildir/", "tools/"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    """The folder of ALLOWED that path is in, or None."""
    for folder in ALLOWED:
        if path.startswith(folder) and "/" not in path[len(folder):]:
            return folder
    return None


def check(root):
    errors = []
    for path in sorted(root.rglob("*.[ch]")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("obj", "tests/")):
            continue
        folder = layer_of(rel)
        if folder is None:
            if rel.startswith("common/"):
                errors.append(f"{rel}: not in a layer of common/ "
                              f"({', '.join(COMMON)})")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if m is None:
                continue
            target = m.group(1)
            where = layer_of(target)
            if where is None:
                errors.append(f"{rel}:{n}: includes \"{target}\", "
                              f"which is in no layer")
            elif where not in ALLOWED[folder]:
                errors.append(f"{rel}:{n}: includes \"{target}\", but "
                              f"{folder} may include only from "
                              f"{', '.join(ALLOWED[folder])}")
    return errors


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print("includes against the layering (see HACKING, Layers)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
