"""The Xet storage formats, server side: hashes, xorbs and shards (huggingface/xet-core, spec/).

Pure functions over bytes. A hash is 32 raw bytes; its string form (:func:`hash_hex`) reverses each
8-byte word, as the spec requires. A xorb is a series of chunks (8-byte header + LZ4 / byte-grouped LZ4 /
raw data), optionally followed by xet-core's footer (``XETBLOB`` ... ``u32 info_length``). A shard is a
48-byte header, file-info blocks, CAS-info blocks, each section closed by a bookend, and (except on
upload) lookup tables plus a 200-byte footer.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import blake3
import lz4.frame
import numpy as np

DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip
SHARD_HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    [85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
SHARD_FOOTER_SIZE = 200
ENTRY = 48  # every shard record is 48 bytes
BOOKEND = b"\xff" * 32 + b"\x00" * 16
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
CHUNK_GLOBAL_DEDUP_FLAG = 1 << 31
MAX_CHUNK_SIZE = 128 * 1024
XORB_IDENT = b"XETBLOB"
GLOBAL_DEDUP_MODULUS = 1024


class FormatError(ValueError):
    """Bytes that do not follow the Xet formats; the message says where and why."""


# ---- hashes ------------------------------------------------------------------------------------
def hash_hex(h: bytes) -> str:
    """The spec's string form of a 32-byte hash: each 8-byte word read little-endian, printed as hex."""
    return "".join(h[i : i + 8][::-1].hex() for i in range(0, 32, 8))


def hex_hash(s: str) -> bytes:
    """Inverse of :func:`hash_hex` (``s`` must be validated 64-digit hex)."""
    raw = bytes.fromhex(s)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, 32, 8))


def chunk_hash(data: bytes) -> bytes:
    """Hash of one chunk's (decompressed) bytes."""
    return blake3.blake3(data, key=DATA_KEY).digest()


def _merge(nodes: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_hex(h)} : {n}\n" for h, n in nodes)
    return blake3.blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(n for _, n in nodes)


def _next_cut(nodes: list[tuple[bytes, int]], start: int) -> int:
    # A group ends after a node whose hash is 0 mod 4 (mean branching factor 4), with 2..9 nodes.
    remaining = len(nodes) - start
    if remaining <= 2:
        return len(nodes)
    end = min(9, remaining)
    for i in range(2, end):
        if int.from_bytes(nodes[start + i][0][24:32], "little") % 4 == 0:
            return start + i + 1
    return start + end


def merkle_root(nodes: list[tuple[bytes, int]]) -> bytes:
    """Root of xet-core's aggregated hash tree over (chunk hash, chunk size) leaves: the xorb hash."""
    if not nodes:
        return bytes(32)
    level = list(nodes)
    while len(level) > 1:
        merged, i = [], 0
        while i < len(level):
            cut = _next_cut(level, i)
            merged.append(_merge(level[i:cut]))
            i = cut
        level = merged
    return level[0][0]


def file_hash(nodes: list[tuple[bytes, int]]) -> bytes:
    """A file's Xet hash: the tree root, keyed-hashed once more with a zero key (zero for no chunks)."""
    if not nodes:
        return bytes(32)
    return blake3.blake3(merkle_root(nodes), key=bytes(32)).digest()


def verification_hash(chunk_hashes: list[bytes]) -> bytes:
    """A shard term's verification hash over the raw chunk hashes of its range."""
    return blake3.blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


def keyed(h: bytes, key: bytes) -> bytes:
    """A chunk hash protected with a global-dedup HMAC key (blake3 keyed hash)."""
    return blake3.blake3(h, key=key).digest()


def dedup_eligible(h: bytes) -> bool:
    """Whether clients query the global dedup API for this chunk hash (besides each file's first)."""
    return int.from_bytes(h[24:32], "little") % GLOBAL_DEDUP_MODULUS == 0


# ---- xorbs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One chunk of a xorb: its hash, serialized byte range ``[start, end)`` and decompressed size."""

    hash: bytes
    start: int
    end: int
    size: int


def _ungroup4(data: bytes) -> bytes:
    # Inverse of byte grouping: group g holds bytes g, g+4, g+8... of the original.
    n = len(data)
    out = np.empty(n, dtype=np.uint8)
    src = np.frombuffer(data, dtype=np.uint8)
    pos = 0
    for g in range(4):
        count = n // 4 + (1 if g < n % 4 else 0)
        out[g::4] = src[pos : pos + count]
        pos += count
    return out.tobytes()


def _lz4(data: bytes, size: int) -> bytes:
    try:
        out = lz4.frame.LZ4FrameDecompressor().decompress(data, max_length=size + 1)
    except RuntimeError as e:
        raise FormatError(f"LZ4 data does not decompress: {e}") from None
    return out


def decode_chunk(scheme: int, payload: bytes, size: int) -> bytes:
    """Decompress one chunk payload; its size must be the declared ``size``."""
    if scheme == 0:
        out = payload
    elif scheme == 1:
        out = _lz4(payload, size)
    elif scheme == 2:
        out = _ungroup4(_lz4(payload, size))
    else:
        raise FormatError(f"unknown chunk compression scheme {scheme}")
    if len(out) != size:
        raise FormatError(f"chunk decompresses to {len(out)} bytes, header says {size}")
    return out


def iter_chunks(data: bytes, end: int | None = None):
    """Yield (header start, payload end, decompressed bytes) for each chunk in ``data[:end]``."""
    end = len(data) if end is None else end
    pos = 0
    while pos < end:
        if end - pos < 8:
            raise FormatError(f"truncated chunk header at byte {pos}")
        version, clen_lo, clen_hi, scheme, ulen_lo, ulen_hi = struct.unpack_from("<BHBBHB", data, pos)
        clen, ulen = clen_lo | clen_hi << 16, ulen_lo | ulen_hi << 16
        if version != 0:
            raise FormatError(f"chunk header version {version} at byte {pos} (expected 0)")
        if ulen > MAX_CHUNK_SIZE or clen > 2 * MAX_CHUNK_SIZE:
            raise FormatError(f"chunk at byte {pos} is larger than {MAX_CHUNK_SIZE} bytes")
        if pos + 8 + clen > end:
            raise FormatError(f"chunk at byte {pos} runs past the end of the data")
        yield pos, pos + 8 + clen, decode_chunk(scheme, data[pos + 8 : pos + 8 + clen], ulen)
        pos += 8 + clen


def chunks_end(data: bytes) -> int:
    """Length of the chunk section: before xet-core's footer when there is one, else the whole body."""
    if len(data) >= 4:
        info_len = int.from_bytes(data[-4:], "little")
        start = len(data) - 4 - info_len
        if 0 <= start < len(data) - 4 and data[start : start + 7] == XORB_IDENT:
            return start
    return len(data)


def parse_xorb(data: bytes, expected_hex: str) -> list[Chunk]:
    """Parse and verify a serialized xorb: every chunk decompresses to its declared size and the Merkle
    root of the chunk hashes is ``expected_hex``. Returns its chunks. Raises :class:`FormatError`."""
    chunks = []
    for start, end, raw in iter_chunks(data, chunks_end(data)):
        chunks.append(Chunk(chunk_hash(raw), start, end, len(raw)))
    if not chunks:
        raise FormatError("xorb has no chunks")
    got = hash_hex(merkle_root([(c.hash, c.size) for c in chunks]))
    if got != expected_hex:
        raise FormatError(f"xorb content hashes to {got}, not {expected_hex}")
    return chunks


# ---- shards ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One term of a file reconstruction: chunks ``[start, end)`` of a xorb, ``size`` bytes unpacked."""

    xorb: bytes
    start: int
    end: int
    size: int
    verification: bytes | None


@dataclass(frozen=True)
class FileInfo:
    """A file described by an uploaded shard."""

    hash: bytes
    terms: list[Term]
    sha256: bytes | None


@dataclass(frozen=True)
class XorbInfo:
    """A CAS-info block: a xorb and its (hash, unpacked offset, size, flags) chunk entries."""

    hash: bytes
    chunks: list[tuple[bytes, int, int, int]]
    bytes_on_disk: int


def parse_shard(data: bytes) -> tuple[list[FileInfo], list[XorbInfo]]:
    """Parse a shard as uploaded (footer omitted or present). Raises :class:`FormatError`."""
    if len(data) < ENTRY or data[:32] != SHARD_HEADER_TAG:
        raise FormatError("not a shard: wrong magic tag")
    version, footer_size = struct.unpack_from("<QQ", data, 32)
    if version != SHARD_HEADER_VERSION:
        raise FormatError(f"shard header version {version} (expected {SHARD_HEADER_VERSION})")
    limit = len(data) - footer_size
    if footer_size not in (0, SHARD_FOOTER_SIZE) or limit < ENTRY:
        raise FormatError(f"bad shard footer size {footer_size}")
    pos, files = ENTRY, []

    def record(at: int) -> bytes:
        if at + ENTRY > limit:
            raise FormatError(f"shard truncated at byte {at}")
        return data[at : at + ENTRY]

    while (rec := record(pos)) != BOOKEND:
        fhash, flags, n = rec[:32], *struct.unpack_from("<II", rec, 32)
        pos += ENTRY
        raw_terms = []
        for _ in range(n):
            t = record(pos)
            pos += ENTRY
            raw_terms.append((t[:32], *struct.unpack_from("<IIII", t, 32)))
        checks: list[bytes | None] = [None] * n
        if flags & FLAG_VERIFICATION:
            for i in range(n):
                checks[i] = record(pos)[:32]
                pos += ENTRY
        sha = None
        if flags & FLAG_METADATA_EXT:
            sha = record(pos)[:32]
            pos += ENTRY
        terms = [Term(x, s, e, size, checks[i]) for i, (x, _f, size, s, e) in enumerate(raw_terms)]
        files.append(FileInfo(fhash, terms, sha))
    pos += ENTRY
    xorbs = []
    while (rec := record(pos)) != BOOKEND:
        xhash, _flags, n, _in_cas, on_disk = rec[:32], *struct.unpack_from("<IIII", rec, 32)
        pos += ENTRY
        entries = []
        for _ in range(n):
            c = record(pos)
            pos += ENTRY
            entries.append((c[:32], *struct.unpack_from("<III", c, 32)))
        xorbs.append(XorbInfo(xhash, entries, on_disk))
    return files, xorbs


def dedup_shard(xorbs: list[XorbInfo], hmac_key: bytes, valid_for: int = 7 * 24 * 3600) -> bytes:
    """A shard answering a global-dedup query: no files, the given xorbs with chunk hashes keyed by
    ``hmac_key``, lookup tables and a footer (clients load it as a local shard file)."""
    out = bytearray(SHARD_HEADER_TAG + struct.pack("<QQ", SHARD_HEADER_VERSION, SHARD_FOOTER_SIZE))
    file_info_offset = len(out)
    out += BOOKEND
    xorb_info_offset = len(out)
    xorb_lookup, chunk_lookup, index = [], [], 0
    for x in sorted(xorbs, key=lambda x: x.hash):
        xorb_lookup.append((int.from_bytes(x.hash[:8], "little"), index))
        total = sum(c[2] for c in x.chunks)
        out += x.hash + struct.pack("<IIII", 0, len(x.chunks), total, x.bytes_on_disk)
        for i, (h, start, size, flags) in enumerate(x.chunks):
            kh = keyed(h, hmac_key)
            out += kh + struct.pack("<IIII", start, size, flags, 0)
            chunk_lookup.append((int.from_bytes(kh[:8], "little"), index, i))
        index += 1 + len(x.chunks)
    out += BOOKEND
    file_lookup_offset = len(out)
    xorb_lookup_offset = len(out)
    for key, idx in sorted(xorb_lookup):
        out += struct.pack("<QI", key, idx)
    chunk_lookup_offset = len(out)
    for key, idx, i in sorted(chunk_lookup):
        out += struct.pack("<QII", key, idx, i)
    footer_offset = len(out)
    now = int(time.time())
    out += struct.pack(
        "<9Q", SHARD_FOOTER_VERSION, file_info_offset, xorb_info_offset, file_lookup_offset, 0,
        xorb_lookup_offset, len(xorb_lookup), chunk_lookup_offset, len(chunk_lookup),
    )  # fmt: skip
    out += hmac_key + struct.pack("<QQ", now, now + valid_for) + bytes(48)
    stored = sum(sum(c[2] for c in x.chunks) for x in xorbs)
    out += struct.pack("<QQQQ", sum(x.bytes_on_disk for x in xorbs), stored, stored, footer_offset)
    return bytes(out)
