"""Resetting etcd's consistent index inside a snapshot's bbolt file, the one edit of
`etcdctl snapshot restore` that a plain `etcd` cannot do for itself.

A snapshot is etcd's backend database (a bbolt file). Started as the backend of a new
single-member cluster, etcd keeps every key and revision in it, but it would skip applying
every new raft entry whose index is not above the `consistent_index` recorded in the file
(the index of the old cluster's raft log): the new cluster's writes would be lost until its
log caught up. etcdctl's restore writes the index of the new log instead; here it is set to
0, in place (the value keeps its 8 bytes, and bbolt checksums only its two meta pages), so
the new cluster applies every entry from its first.

The reader follows bbolt's on-disk format (go.etcd.io/bbolt page.go, bucket.go): two meta
pages, the root bucket's B+tree of branch and leaf pages, buckets whose value is a header
(root page id, sequence) followed by the bucket's own page when it is inline (root 0).
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = 0xED0CDAED
_BRANCH, _LEAF = 0x01, 0x02
_BUCKET_FLAG = 0x01
_PAGE_HEADER = 16
_ELEMENT = 16
_META_BUCKET = b"meta"
_CONSISTENT_INDEX = b"consistent_index"


class BoltError(ValueError):
    """The file is not a bbolt database this reader understands."""


class _Db:
    def __init__(self, data: bytearray) -> None:
        self.data = data
        first = self._meta(0)
        second = self._meta(first[0] if first is not None else 4096)
        valid = [m for m in (first, second) if m is not None]
        if not valid:
            raise BoltError("no valid bbolt meta page")
        self.page_size, self.root, _txid = max(valid, key=lambda m: m[2])

    def _meta(self, offset: int) -> tuple[int, int, int] | None:
        base = offset + _PAGE_HEADER
        if len(self.data) < base + 64:
            return None
        magic, _version, page_size = struct.unpack_from("<III", self.data, base)
        if magic != _MAGIC:
            return None
        root = struct.unpack_from("<Q", self.data, base + 16)[0]
        txid = struct.unpack_from("<Q", self.data, base + 48)[0]
        return page_size, root, txid

    def lookup(self, page_offset: int, key: bytes) -> tuple[int, int, int]:
        """`(flags, value offset, value size)` of `key` in the tree whose root page is at
        `page_offset`."""
        flags, count = struct.unpack_from("<HH", self.data, page_offset + 8)
        elements = page_offset + _PAGE_HEADER
        if flags & _BRANCH:
            child = None
            for i in range(count):
                at = elements + i * _ELEMENT
                pos, ksize, pgid = struct.unpack_from("<IIQ", self.data, at)
                if bytes(self.data[at + pos:at + pos + ksize]) <= key:
                    child = pgid
                else:
                    break
            if child is None:
                raise KeyError(key)
            return self.lookup(child * self.page_size, key)
        if not flags & _LEAF:
            raise BoltError(f"page at {page_offset} is neither branch nor leaf")
        for i in range(count):
            at = elements + i * _ELEMENT
            eflags, pos, ksize, vsize = struct.unpack_from("<IIII", self.data, at)
            if bytes(self.data[at + pos:at + pos + ksize]) == key:
                return eflags, at + pos + ksize, vsize
        raise KeyError(key)

    def bucket_root(self, value_offset: int) -> int:
        """The page offset of a bucket's tree: its root page, or its inline page."""
        root = struct.unpack_from("<Q", self.data, value_offset)[0]
        return value_offset + 16 if root == 0 else root * self.page_size


def reset_consistent_index(path: Path) -> int:
    """Set `meta/consistent_index` of the bbolt file at `path` to 0; return what it was."""
    data = bytearray(path.read_bytes())
    db = _Db(data)
    try:
        flags, offset, _size = db.lookup(db.root * db.page_size, _META_BUCKET)
        if not flags & _BUCKET_FLAG:
            raise BoltError("'meta' is not a bucket")
        _flags, value, size = db.lookup(db.bucket_root(offset), _CONSISTENT_INDEX)
    except KeyError as err:
        raise BoltError(f"not an etcd backend: no {err.args[0]!r}") from None
    if size != 8:
        raise BoltError(f"consistent_index is {size} bytes, not 8")
    previous = int(struct.unpack_from(">Q", data, value)[0])
    with path.open("r+b") as file:
        file.seek(value)
        file.write(bytes(8))
    return previous
