"""The Xet content-addressed store (CAS) behind the rehearsal Hub.

Layout under ``root/xet``::

    xorbs/<h[:2]>/<h>          a xorb as uploaded (chunks + xet-core footer), h its hash string
    xorbs/<h[:2]>/<h>.json     its verified chunk index: [chunk hash, byte start, byte end, size], ...
    files/<h[:2]>/<h>.json     a file reconstruction: size, sha256, terms [xorb, first, end, size]
    sha256/<s[:2]>/<s>         the Xet hash of the file whose sha256 is s
    dedup/<c[:2]>/<c>          the xorb holding chunk c (global-dedup eligible chunks only)

Every upload is verified before it is stored: a xorb must hash to its name; a shard's xorbs must exist
and list their true chunks, each file's terms must match its verification hashes and chunk hashes, and
the bytes it rebuilds must have the declared sha256. Verified files are also written to the large-file
store, so plain HTTP downloads and git-LFS clients get the same bytes as Xet clients.

Scope: on the Hub a Xet token is bound to one repo; here any live Xet token (issued only to callers who
may read or write some repo) reads any stored file by its hash, and a file's hash is only shown to callers
who may read a repo holding it. Stored data is kept twice (xorbs for Xet readers, whole files for others).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hf_synth.hub.server import xet_format as xf
from hf_synth.hub.server.errors import HttpError, bad_request
from hf_synth.hub.server.storage import HubStore, atomic_write, stream_to_file

MAX_XORB_BYTES = 64 * 1024 * 1024 + 1024 * 1024  # 64 MiB of chunks plus xet-core's footer
MAX_SHARD_BYTES = 64 * 1024 * 1024


def _fanout(base: Path, name: str, suffix: str = "") -> Path:
    return base / name[:2] / f"{name}{suffix}"


class XetStore:
    """Xorbs, file reconstructions and the global-dedup index; shares ``lfs/`` with :class:`HubStore`."""

    def __init__(self, store: HubStore):
        self.store = store
        self.base = store.root / "xet"
        for sub in ("xorbs", "files", "sha256", "dedup"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # ---- xorbs ---------------------------------------------------------------------------------
    def xorb_index(self, xorb_hex: str) -> list[list] | None:
        """``[[chunk hash hex, byte start, byte end, size], ...]`` of a stored xorb, or None."""
        path = _fanout(self.base / "xorbs", xorb_hex, ".json")
        return json.loads(path.read_text()) if path.exists() else None

    def put_xorb(self, xorb_hex: str, data: bytes) -> bool:
        """Verify and store a xorb; False when it was already stored. 400 when it does not verify."""
        if self.xorb_index(xorb_hex) is not None:
            return False
        try:
            chunks = xf.parse_xorb(data, xorb_hex)
        except xf.FormatError as e:
            raise bad_request(f"xorb {xorb_hex}: {e}") from None
        atomic_write(_fanout(self.base / "xorbs", xorb_hex), data)
        index = [[xf.hash_hex(c.hash), c.start, c.end, c.size] for c in chunks]
        # the index last: a xorb "exists" once both are in place
        atomic_write(_fanout(self.base / "xorbs", xorb_hex, ".json"), json.dumps(index).encode())
        return True

    def read_xorb(self, xorb_hex: str, start: int, end: int) -> bytes:
        """Serialized bytes ``[start, end]`` (inclusive, as in a Range header) of a stored xorb."""
        with open(_fanout(self.base / "xorbs", xorb_hex), "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)

    def _xorb_chunks(self, xorb: bytes, needed: dict[str, list[list]]) -> list[list]:
        name = xf.hash_hex(xorb)
        if name not in needed:
            index = self.xorb_index(name)
            if index is None:
                raise bad_request(f"shard references xorb {name}, which was not uploaded")
            needed[name] = index
        return needed[name]

    # ---- shards and files ----------------------------------------------------------------------
    def put_shard(self, data: bytes) -> int:
        """Verify and register a shard's files and xorbs; 1 when something new was registered, else 0."""
        try:
            files, xorbs = xf.parse_shard(data)
        except xf.FormatError as e:
            raise bad_request(f"shard: {e}") from None
        index: dict[str, list[list]] = {}
        for x in xorbs:  # the CAS-info blocks must describe the xorbs as stored
            chunks = self._xorb_chunks(x.hash, index)
            listed = [(xf.hash_hex(h), size) for h, _start, size, _flags in x.chunks]
            if listed != [(c[0], c[3]) for c in chunks]:
                raise bad_request(f"shard lists chunks of xorb {xf.hash_hex(x.hash)} that it does not hold")
        new = 0
        for f in files:
            new += self._put_file(f, index)
        for x in xorbs:
            chunks = index[xf.hash_hex(x.hash)]
            for i, c in enumerate(chunks):
                if xf.dedup_eligible(xf.hex_hash(c[0])) or x.chunks[i][3] & xf.CHUNK_GLOBAL_DEDUP_FLAG:
                    self._index_chunk(c[0], xf.hash_hex(x.hash))
        return 1 if new or xorbs else 0

    def _index_chunk(self, chunk_hex: str, xorb_hex: str) -> None:
        path = _fanout(self.base / "dedup", chunk_hex)
        if not path.exists():
            atomic_write(path, xorb_hex.encode())

    def _put_file(self, f: xf.FileInfo, index: dict[str, list[list]]) -> int:
        fhex = xf.hash_hex(f.hash)
        if f.sha256 is None or any(t.verification is None for t in f.terms):
            raise bad_request(f"file {fhex}: shard uploads need verification entries and a sha256")
        leaves: list[tuple[bytes, int]] = []
        terms = []
        for t in f.terms:
            chunks = self._xorb_chunks(t.xorb, index)
            if not 0 <= t.start < t.end <= len(chunks):
                raise bad_request(f"file {fhex}: chunk range [{t.start}, {t.end}) is outside its xorb")
            part = chunks[t.start : t.end]
            hashes = [xf.hex_hash(c[0]) for c in part]
            if xf.verification_hash(hashes) != t.verification:
                raise bad_request(f"file {fhex}: a term's verification hash does not match its chunks")
            if sum(c[3] for c in part) != t.size:
                raise bad_request(f"file {fhex}: a term's size does not match its chunks")
            leaves += [(h, c[3]) for h, c in zip(hashes, part, strict=True)]
            terms.append([xf.hash_hex(t.xorb), t.start, t.end, t.size])
        if xf.file_hash(leaves) != f.hash:
            raise bad_request(f"file {fhex}: the file hash does not match its chunks")
        sha = xf.hash_hex(f.sha256)  # stored as a hash: each 8-byte word reversed
        record = _fanout(self.base / "files", fhex, ".json")
        if record.exists() and self.store.lfs_path(sha).exists():
            return 0
        size = sum(t[3] for t in terms)
        with self._lock:  # one rebuild at a time keeps memory and disk use bounded
            tmp, got, n = stream_to_file(self._rebuild(terms), self.store.root / "lfs", size)
            if got != sha or n != size:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise bad_request(f"file {fhex}: its bytes have sha256 {got}, the shard says {sha}")
            self.store.put_lfs_file(tmp, sha)
        atomic_write(record, json.dumps({"size": size, "sha256": sha, "terms": terms}).encode())
        atomic_write(_fanout(self.base / "sha256", sha), fhex.encode())
        self._index_chunk(index[terms[0][0]][terms[0][1]][0], terms[0][0])  # a file's first chunk
        return 1

    def _rebuild(self, terms: list[list]) -> Iterator[bytes]:
        for xorb_hex, start, end, _size in terms:
            index = self.xorb_index(xorb_hex) or []
            lo, hi = index[start][1], index[end - 1][2]
            data = self.read_xorb(xorb_hex, lo, hi - 1)
            for _s, _e, raw in xf.iter_chunks(data):
                yield raw

    def file_record(self, file_hex: str) -> dict | None:
        path = _fanout(self.base / "files", file_hex, ".json")
        return json.loads(path.read_text()) if path.exists() else None

    def xet_hash_of(self, sha256: str) -> str | None:
        """The Xet hash of the large file with this sha256, when it was uploaded through Xet."""
        path = _fanout(self.base / "sha256", sha256)
        return path.read_text() if path.exists() else None

    # ---- downloads -----------------------------------------------------------------------------
    def reconstruction(
        self, file_hex: str, first: int, last: int | None, url: Callable[[str, int, int], str]
    ) -> dict:
        """The v1 ``QueryReconstructionResponse`` for bytes ``[first, last]`` (``last`` None: to the end).

        ``url(xorb, start, end)`` makes the presigned URL of serialized xorb bytes ``[start, end]``.
        Whole terms are returned; ``offset_into_first_range`` says where the range starts in the first.
        """
        record = self.file_record(file_hex)
        if record is None:
            raise HttpError(404, f"no file {file_hex} in this CAS")
        size = record["size"]
        if first >= size:
            raise HttpError(416, f"range starts at {first}, the file has {size} bytes")
        last = size - 1 if last is None else min(last, size - 1)
        terms, fetch, offset, pos = [], {}, 0, 0
        for xorb_hex, start, end, n in record["terms"]:
            if pos + n > first and pos <= last:
                if not terms:
                    offset = first - pos
                index = self.xorb_index(xorb_hex) or []
                lo, hi = index[start][1], index[end - 1][2] - 1
                terms.append({"hash": xorb_hex, "unpacked_length": n, "range": {"start": start, "end": end}})
                entry = {
                    "range": {"start": start, "end": end},
                    "url": url(xorb_hex, lo, hi),
                    "url_range": {"start": lo, "end": hi},
                }
                fetch.setdefault(xorb_hex, [])
                if all(e["range"] != entry["range"] for e in fetch[xorb_hex]):
                    fetch[xorb_hex].append(entry)
            pos += n
        return {"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch}

    def dedup_shard(self, chunk_hex: str) -> bytes | None:
        """The global-dedup answer for a chunk: a shard describing the xorb that holds it, or None."""
        path = _fanout(self.base / "dedup", chunk_hex)
        if not path.exists():
            return None
        xorb_hex = path.read_text()
        index = self.xorb_index(xorb_hex) or []
        chunks, offset = [], 0
        for c in index:
            chunks.append((xf.hex_hash(c[0]), offset, c[3], 0))
            offset += c[3]
        size = _fanout(self.base / "xorbs", xorb_hex).stat().st_size
        info = xf.XorbInfo(xf.hex_hash(xorb_hex), chunks, size)
        return xf.dedup_shard([info], hmac_key=os.urandom(32))
