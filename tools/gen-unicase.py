#!/usr/bin/python3
"""Write common/mail/unicase-table.h: the i;unicode-casemap mapping of RFC 5051
(simple titlecase, then NFKD, then titlecase again of what the
decomposition gives) for every code point it changes, from the Unicode
database of the Python that runs it.

    tools/gen-unicase.py > common/mail/unicase-table.h

Hangul syllables are left out: their decomposition is arithmetic, done
in code (common/mail/unicase.c).  The table is sorted by code point; each
entry points into one array of the mapped code points."""

import sys
import unicodedata


def title(c):
    t = c.title()
    # a one-character titlecase is the simple mapping; special casing
    # (two or more characters) is not used by the comparator
    return t if len(t) == 1 else c


def casemap(c):
    d = unicodedata.normalize("NFKD", title(c))
    return "".join(title(x) for x in d)


def main():
    entries, pool = [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        c = chr(cp)
        m = casemap(c)
        if m == c:
            continue
        entries.append((cp, len(pool), len(m)))
        pool.extend(ord(x) for x in m)
    out = sys.stdout
    out.write("/*\n * unicase-table.h: the i;unicode-casemap mapping "
              "(RFC 5051) of\n * Unicode %s, written by "
              "tools/gen-unicase.py; see unicase.c.\n * Do not edit.\n"
              " */\n" % unicodedata.unidata_version)
    out.write("#define UNICASE_VERSION \"%s\"\n"
              % unicodedata.unidata_version)
    out.write("#define UNICASE_ENTRIES %d\n#define UNICASE_POOL %d\n\n"
              % (len(entries), len(pool)))
    out.write("static const uint32_t unicase_cp[UNICASE_ENTRIES] = {\n")
    for i in range(0, len(entries), 8):
        out.write("\t" + ", ".join("0x%x" % e[0]
                                   for e in entries[i:i + 8]) + ",\n")
    out.write("};\n\n/* offset << 5 | length of each entry's mapping */\n")
    out.write("static const uint32_t unicase_at[UNICASE_ENTRIES] = {\n")
    for i in range(0, len(entries), 8):
        out.write("\t" + ", ".join("0x%x" % (e[1] << 5 | e[2])
                                   for e in entries[i:i + 8]) + ",\n")
    out.write("};\n\nstatic const uint32_t unicase_pool[UNICASE_POOL] = {\n")
    for i in range(0, len(pool), 8):
        out.write("\t" + ", ".join("0x%x" % x for x in pool[i:i + 8]) +
                  ",\n")
    out.write("};\n")
    assert max(e[2] for e in entries) < 32


if __name__ == "__main__":
    main()
