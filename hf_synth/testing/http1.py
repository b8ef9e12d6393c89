"""A minimal HTTP/1.1 request reader and response writer over asyncio streams (keep-alive, chunked bodies)."""

from __future__ import annotations

import asyncio

from hf_synth.testing.wire import REASONS

__all__ = ["read_request", "write_response"]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """(method, target, lower-cased headers, body) of the next request; None when the peer is done."""
    # One read for the whole head: a readline per header costs more than the dispatch.
    try:
        head_bytes = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    request_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    try:
        method, target, _version = request_line.split()
    except ValueError:
        return None
    headers: dict[str, str] = {}
    for raw_header in header_lines:
        if raw_header:
            key, _, value = raw_header.partition(":")
            headers[key.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    return method, target, headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


async def write_response(
    writer: asyncio.StreamWriter, status: int, headers: dict[str, str], payload: bytes
) -> None:
    """Send one response (JSON unless `headers` says otherwise) and wait until it is flushed."""
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    headers.setdefault("content-type", "application/json")
    headers["content-length"] = str(len(payload))
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
    await writer.drain()
