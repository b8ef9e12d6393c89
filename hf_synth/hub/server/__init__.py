"""Loopback rehearsal Hub: the part of the Hugging Face Hub HTTP API (and the Xet CAS) that
``huggingface_hub``, ``hf_xet``, the ``hf`` CLI and ``datasets`` use to create a repo, commit to it, tag
it and read it back, so that a release can be rehearsed (and tested) end to end with the real clients and
no network: point ``HF_ENDPOINT`` at the URL it prints.

Modules: :mod:`.names` (decoding and validation of client names), :mod:`.storage` (repos, commits,
blobs), :mod:`.xet_format` (Xet hashes, xorbs, shards), :mod:`.cas` (the Xet CAS), :mod:`.auth` (tokens,
signatures), :mod:`.http` (request plumbing), :mod:`.repo_read` / :mod:`.repo_write` /
:mod:`.discussions` / :mod:`.transfer` (routes), :mod:`.routes` (the table), :mod:`.app` (the server).
"""

from hf_synth.hub.server.app import RehearsalHub, running_hub, serve
from hf_synth.hub.server.auth import TOKENS_ENV
from hf_synth.hub.server.errors import BAD_TOKEN_MESSAGE, hub_date
from hf_synth.hub.server.repo_write import USER_NAME
from hf_synth.hub.server.storage import HubStore, git_blob_sha1

__all__ = [
    "BAD_TOKEN_MESSAGE",
    "TOKENS_ENV",
    "USER_NAME",
    "HubStore",
    "RehearsalHub",
    "git_blob_sha1",
    "hub_date",
    "running_hub",
    "serve",
]
