"""The Xet formats against the spec's own examples and adversarial bytes (the end-to-end interop is
tested with hf_xet in test_clients.py)."""

from __future__ import annotations

import struct

import lz4.frame
import pytest

from hf_synth.hub.server import xet_format as xf


def chunk_record(data: bytes, scheme: int = 1, declared: int | None = None) -> bytes:
    payload = data if scheme == 0 else lz4.frame.compress(data)
    size = len(data) if declared is None else declared
    return (
        struct.pack(
            "<BHBBHB", 0, len(payload) & 0xFFFF, len(payload) >> 16, scheme, size & 0xFFFF, size >> 16
        )
        + payload
    )


def test_hash_string_form_is_the_specs_word_reversed_hex() -> None:
    raw = bytes(range(32))
    # the spec's byte order [7..0, 15..8, 23..16, 31..24] (its printed example drops the "10" byte)
    reordered = [*range(7, -1, -1), *range(15, 7, -1), *range(23, 15, -1), *range(31, 23, -1)]
    assert xf.hash_hex(raw) == bytes(reordered).hex()
    assert xf.hash_hex(raw).startswith("07060504030201000f0e0d0c0b0a0908")
    assert xf.hex_hash(xf.hash_hex(raw)) == raw


def test_a_xorb_verifies_only_under_its_own_hash_and_refuses_a_decompression_bomb() -> None:
    chunks = [b"first chunk " * 700, bytes(range(256)) * 40]
    body = chunk_record(chunks[0]) + chunk_record(chunks[1], scheme=0)
    name = xf.hash_hex(xf.merkle_root([(xf.chunk_hash(c), len(c)) for c in chunks]))
    parsed = xf.parse_xorb(body, name)
    assert [c.size for c in parsed] == [len(c) for c in chunks] and parsed[1].end == len(body)
    with pytest.raises(xf.FormatError, match="hashes to"):
        xf.parse_xorb(body[:-1] + b"\x01", name)
    bomb = chunk_record(bytes(128 * 1024), declared=16)  # declares 16 bytes, inflates to 128 KiB
    with pytest.raises(xf.FormatError, match="decompresses to"):
        xf.parse_xorb(bomb, name)


def test_byte_grouping_is_undone_for_every_length_mod_4() -> None:
    for n in (0, 1, 2, 3, 4, 9, 1001):
        data = bytes((i * 7) % 251 for i in range(n))
        grouped = b"".join(data[g::4] for g in range(4))
        assert xf.decode_chunk(2, lz4.frame.compress(grouped), n) == data


def test_a_truncated_or_untagged_shard_is_a_format_error() -> None:
    with pytest.raises(xf.FormatError, match="magic"):
        xf.parse_shard(b"x" * 200)
    header = xf.SHARD_HEADER_TAG + struct.pack("<QQ", xf.SHARD_HEADER_VERSION, 0)
    with pytest.raises(xf.FormatError, match="truncated"):
        xf.parse_shard(header + b"\x01" * 40)
    assert xf.parse_shard(header + xf.BOOKEND + xf.BOOKEND) == ([], [])
