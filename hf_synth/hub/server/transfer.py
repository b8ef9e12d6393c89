"""File transfer routes: downloads (``resolve``), git-LFS uploads, and Xet (token routes + CAS API).

Xet, as huggingface_hub 2.x with hf_xet speaks it (xet-core spec): the client asks
``/api/{type}s/{repo}/xet-{read,write}-token/{rev}`` for a short-lived token and the CAS URL (here
``{endpoint}/cas``), then calls ``/cas/v1/chunks``, ``/cas/v1/xorbs``, ``/cas/v1/shards`` and
``/cas/v1/reconstructions``; xorb bytes are read from presigned ``/cas/xorb/{hash}`` URLs with a
``Range`` header inside the signed range. ``/cas/v2/*`` answers 501 so clients use v1.
"""

from __future__ import annotations

import contextlib
import os
import re

from hf_synth.hub.server.cas import MAX_SHARD_BYTES, MAX_XORB_BYTES
from hf_synth.hub.server.errors import HttpError, bad_request
from hf_synth.hub.server.names import RepoRef, check_hex, check_revision, content_disposition
from hf_synth.hub.server.repo_read import RepoReadRoutes
from hf_synth.hub.server.storage import TooLarge, stream_to_file

MAX_LFS_BYTES = 50 * 1024**3  # the Hub's per-file limit
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` / ``a-`` / ``-n`` as an inclusive (start, end) within ``size``; None when
    unsatisfiable; 416 when malformed or multi-range."""
    m = _RANGE_RE.fullmatch(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise HttpError(416, f"unsupported Range {header[:60]!r}: expected one bytes=start-end range")
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    return None if start >= size or start > end else (start, end)


class TransferRoutes(RepoReadRoutes):
    """Downloads, LFS and Xet."""

    def send_file_range(self, path: os.PathLike, size: int, headers: dict[str, str]) -> None:
        """Answer with a file's bytes, honouring ``Range`` (206 + ``Content-Range``, 416 off the end)."""
        start, end, status = 0, size - 1, 200
        if self.headers.get("Range"):
            rng = parse_range(self.headers["Range"], size)
            if rng is None:
                self.send(416, b"", {**headers, "Content-Range": f"bytes */{size}"})
                return
            (start, end), status = rng, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if size else 0
        self.send_response(status)
        for k, v in {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
            **headers,
        }.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        with open(path, "rb") as f:
            f.seek(start)
            remaining = length
            while remaining:
                piece = f.read(min(remaining, 1 << 20))
                if not piece:
                    break
                self.wfile.write(piece)
                remaining -= len(piece)

    # ---- downloads -----------------------------------------------------------------------------
    def resolve_file(self, ref: RepoRef, rev: str, path: str) -> None:
        self.repo_access(ref)
        oid = self.resolve_rev(ref, rev)
        tree = self.server.store.commit(ref, oid)["tree"]
        entry = tree.get(path)
        if entry is None:
            raise HttpError(404, f"Entry not found: {path} at {rev}", "EntryNotFound", extra={"commit": oid})
        headers = {
            "X-Repo-Commit": oid,
            "ETag": f'"{entry[0]}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(path),
        }
        if len(entry) == 3:  # large file: the client keys its cache on the sha256
            headers.update(
                {"ETag": f'"{entry[2]}"', "X-Linked-Etag": f'"{entry[2]}"', "X-Linked-Size": str(entry[1])}
            )
            xet_hash = self.server.cas.xet_hash_of(entry[2])
            if xet_hash:  # Xet clients fetch it from the CAS; others read the bytes below
                refresh = f"{self.endpoint}/api/{ref.rtype}s/{ref.repo_id}/xet-read-token/{oid}"
                headers.update({"X-Xet-Hash": xet_hash, "X-Xet-Refresh-Route": refresh})
                headers["Link"] = f'<{refresh}>; rel="xet-auth"'
        self.send_file_range(self.server.store.content_path(entry), entry[1], headers)

    # ---- git-LFS -------------------------------------------------------------------------------
    def lfs_batch(self, ref: RepoRef) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        if body.get("operation") != "upload":
            raise bad_request("this rehearsal Hub only takes LFS uploads through the batch API")
        objects = body.get("objects") or []
        if not isinstance(objects, list):
            raise bad_request("objects must be a list")
        answer = []
        for obj in objects:
            oid = obj.get("oid") if isinstance(obj, dict) else None
            size = obj.get("size") if isinstance(obj, dict) else None
            if (
                not isinstance(oid, str)
                or not re.fullmatch(r"[0-9a-f]{64}", oid)
                or not isinstance(size, int)
            ):
                answer.append(
                    {
                        "oid": str(oid)[:80],
                        "size": 0,
                        "error": {"code": 422, "message": "invalid oid or size"},
                    }
                )
                continue
            entry: dict = {"oid": oid, "size": size}
            if not self.server.store.lfs_path(oid).exists():  # no "actions": already stored
                signed = self.server.signer.url_query("lfs-up", oid)
                entry["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{oid}?{signed}"},
                    "verify": {"href": f"{self.endpoint}/lfs-verify/{oid}"},
                }
            answer.append(entry)
        self.send_json({"transfer": "basic", "objects": answer, "hash_algo": "sha256"})

    def lfs_upload(self, oid: str) -> None:
        # The upload URL is used without auth headers (on the Hub it is a presigned S3 URL): it is signed.
        self.server.signer.check_url("lfs-up", oid, self.query)
        self.authorized_by_signature()
        store = self.server.store
        try:
            tmp, sha256, _ = stream_to_file(
                self.body_chunks(MAX_LFS_BYTES), store.root / "lfs", MAX_LFS_BYTES
            )
        except TooLarge:
            raise HttpError(413, f"LFS object larger than {MAX_LFS_BYTES} bytes") from None
        if sha256 != oid:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise bad_request(f"uploaded content has sha256 {sha256}, expected {oid}")
        store.put_lfs_file(tmp, oid)
        self.send(200)

    def lfs_verify(self, oid: str) -> None:
        self.authorize(write=True)
        body = self.json_body()
        size = body.get("size")
        path = self.server.store.lfs_path(oid)
        if not isinstance(size, int) or not path.exists() or path.stat().st_size != size:
            raise HttpError(404, f"LFS object {oid} is missing or has the wrong size")
        self.send_json({})

    # ---- Xet: token routes ---------------------------------------------------------------------
    def xet_token(self, ref: RepoRef, kind: str, rev: str) -> None:
        """``GET /api/{type}s/{repo}/xet-{read,write}-token/{rev}``: a CAS token in the JSON body and in
        the ``X-Xet-*`` headers (huggingface_hub reads the headers, hf_xet the body)."""
        write = kind == "write"
        self.repo_access(ref, write=write)
        if rev != "None":  # huggingface_hub asks for ".../None" when the target is a PR not yet made
            check_revision(rev)
            if not write:
                self.resolve_rev(ref, rev)
        token, exp = self.server.signer.xet_token(write, f"{ref.rtype}s/{ref.repo_id}", rev)
        cas_url = f"{self.endpoint}/cas"
        headers = {"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)}
        self.send_json({"accessToken": token, "exp": exp, "casUrl": cas_url}, headers=headers)

    # ---- Xet: CAS ------------------------------------------------------------------------------
    def cas_auth(self, write: bool) -> None:
        self.server.signer.xet_claims(self.headers.get("Authorization"), need_write=write)
        self.authorized_by_signature()

    def cas_route(self, method: str, s: list[str]) -> None:
        """``/cas/...`` (segments after ``cas``, already decoded)."""
        if s[:1] == ["v2"]:
            raise HttpError(501, f"{method} /cas/{'/'.join(s)} is not implemented: use the v1 API")
        if method == "GET" and len(s) == 2 and s[0] == "xorb":
            return self.cas_read_xorb(check_hex(s[1], 64, "xorb hash"))
        if method == "GET" and len(s) == 4 and s[:2] == ["v1", "chunks"]:
            if s[2] not in ("default", "default-merkledb"):
                raise bad_request(f"unknown dedup prefix {s[2]!r}: expected default")
            return self.cas_dedup(check_hex(s[3], 64, "chunk hash"))
        if method == "POST" and len(s) == 4 and s[:2] == ["v1", "xorbs"]:
            if s[2] != "default":
                raise bad_request(f"unknown xorb prefix {s[2]!r}: expected default")
            return self.cas_put_xorb(check_hex(s[3], 64, "xorb hash"))
        if method == "POST" and s == ["v1", "shards"]:
            return self.cas_put_shard()
        if method == "GET" and len(s) == 3 and s[:2] == ["v1", "reconstructions"]:
            return self.cas_reconstruction(check_hex(s[2], 64, "file hash"))
        if method == "POST" and s == ["v1", "telemetry"]:
            self.cas_auth(write=False)
            self.read_body(1024 * 1024)  # best-effort client metrics: accepted and dropped
            return self.send(204)
        raise HttpError(404, f"no CAS route for {method} /cas/{'/'.join(s)}")

    def cas_put_xorb(self, xorb_hex: str) -> None:
        self.cas_auth(write=True)
        inserted = self.server.cas.put_xorb(xorb_hex, self.read_body(MAX_XORB_BYTES))
        self.send_json({"was_inserted": inserted})

    def cas_put_shard(self) -> None:
        self.cas_auth(write=True)
        self.send_json({"result": self.server.cas.put_shard(self.read_body(MAX_SHARD_BYTES))})

    def cas_dedup(self, chunk_hex: str) -> None:
        self.cas_auth(write=False)
        shard = self.server.cas.dedup_shard(chunk_hex)
        if shard is None:
            raise HttpError(404, f"chunk {chunk_hex} is not known to global dedup")
        self.send(200, shard, content_type="application/octet-stream")

    def cas_reconstruction(self, file_hex: str) -> None:
        self.cas_auth(write=False)
        first, last = 0, None
        if self.headers.get("Range"):
            m = _RANGE_RE.fullmatch(self.headers["Range"].strip())
            if not m or not m.group(1):
                raise HttpError(416, "reconstruction Range must be bytes=start-[end]")
            first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
            if last is not None and last < first:
                raise HttpError(416, "reconstruction Range ends before it starts")

        def url(xorb: str, lo: int, hi: int) -> str:
            query = self.server.signer.url_query("xorb", xorb, f"r={lo}-{hi}&")
            return f"{self.endpoint}/cas/xorb/{xorb}?{query}"

        self.send_json(self.server.cas.reconstruction(file_hex, first, last, url))

    def cas_read_xorb(self, xorb_hex: str) -> None:
        signed = (self.query.get("r") or [""])[0]
        self.server.signer.check_url("xorb", xorb_hex, self.query, f"r={signed}&")
        self.authorized_by_signature()
        lo, _, hi = signed.partition("-")
        rng = _RANGE_RE.fullmatch((self.headers.get("Range") or "").strip())
        if not rng or not rng.group(1) or not rng.group(2):
            raise HttpError(403, "a xorb URL must be read with a Range header inside its signed range")
        start, end = int(rng.group(1)), int(rng.group(2))
        if not int(lo) <= start <= end <= int(hi):
            raise HttpError(403, f"Range {start}-{end} is outside the signed range {signed}")
        data = self.server.cas.read_xorb(xorb_hex, start, end)
        self.send(
            206, data, {"Content-Range": f"bytes {start}-{end}/*"}, content_type="application/octet-stream"
        )
