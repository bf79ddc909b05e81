"""A reader of a folder's full-text index files (imapd-fts.index and
imapd-fts.log, as imapd-uidcache(5) describes them), written from the
manual page and not from the C code, for tests and the bench: which UIDs
the index covers, how large it is, and whether it holds together."""

import os
import struct
import zlib

SNAP = "imapd-fts.index"
LOG = "imapd-fts.log"


class Index:
    def __init__(self, folder):
        self.folder = str(folder)
        self.snapshot_bytes = 0
        self.journal_bytes = 0
        self.records = 0
        self.ranges = []        # joined, ascending (first, last)
        self.uidvalidity = None
        self.problem = None     # why the files do not hold together
        self._read()

    def _path(self, name):
        return os.path.join(self.folder, name)

    def _read(self):
        ranges = []
        gen = None
        prevgen = None
        try:
            with open(self._path(SNAP), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = None
        if data is not None:
            self.snapshot_bytes = len(data)
            h = data[:64]
            if len(h) < 64 or h[:4] != b"IMFX" or \
                    zlib.crc32(h[:60]) != struct.unpack("<I", h[60:64])[0]:
                self.problem = "snapshot header"
                return
            (_, _, _, uidv, gen, prevgen, p, r, k, dcrc) = struct.unpack(
                "<4sIIIQQQIII", h[:52])
            self.uidvalidity = uidv
            if len(data) != 64 + p + 8 * r + 16 * k:
                self.problem = "snapshot size"
                return
            d = data[64 + p:]
            if zlib.crc32(d) != dcrc:
                self.problem = "snapshot directory"
                return
            ranges += [struct.unpack("<II", d[8 * i:8 * i + 8])
                       for i in range(r)]
        try:
            with open(self._path(LOG), "rb") as f:
                log = f.read()
        except FileNotFoundError:
            log = b""
        if len(log) >= 32 and log[:4] == b"IMFJ" and \
                zlib.crc32(log[:28]) == struct.unpack("<I", log[28:32])[0]:
            lgen = struct.unpack("<Q", log[8:16])[0]
            if self.uidvalidity is None:
                self.uidvalidity = struct.unpack("<I", log[16:20])[0]
            ours = lgen == (gen if gen is not None else 0)
            absorbed = prevgen is not None and lgen == prevgen
            off = 32
            while ours and off + 12 <= len(log):
                magic, n, crc = struct.unpack("<III", log[off:off + 12])
                body = log[off + 12:off + 12 + n]
                if magic != 0x31524649 or n < 16 or len(body) != n or \
                        zlib.crc32(body, zlib.crc32(log[off + 4:off + 8])) \
                        != crc:
                    break
                r, k, p = struct.unpack("<IIQ", body[:16])
                d = body[16 + p:]
                ranges += [struct.unpack("<II", d[8 * i:8 * i + 8])
                           for i in range(r)]
                self.records += 1
                off += 12 + n
            if ours or absorbed:
                self.journal_bytes = off if ours else 0
        ranges.sort()
        for a, b in ranges:
            if self.ranges and a <= self.ranges[-1][1] + 1:
                self.ranges[-1] = (self.ranges[-1][0],
                                   max(b, self.ranges[-1][1]))
            else:
                self.ranges.append((a, b))

    def covers(self, uid):
        return any(a <= uid <= b for a, b in self.ranges)

    def covers_all(self, uids):
        return all(self.covers(u) for u in uids)

    def size(self):
        return self.snapshot_bytes + self.journal_bytes
