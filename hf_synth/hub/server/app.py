"""The rehearsal Hub server object, :func:`serve` and :func:`running_hub`."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from hf_synth.hub.server.auth import Signer, auth_mode, tokens_from_env
from hf_synth.hub.server.cas import XetStore
from hf_synth.hub.server.routes import HubHandler
from hf_synth.hub.server.storage import HubStore

SOCKET_TIMEOUT = 60.0  # seconds a connection may sit idle (or stall mid-request) before it is dropped
MAX_CONNECTIONS = 64
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class RehearsalHub(ThreadingHTTPServer):
    """A threading HTTP server holding the store, the CAS, the accepted tokens and the URL signer."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # listen backlog: bursts of client connections are queued, not refused

    def __init__(
        self,
        addr: tuple[str, int],
        root: Path,
        tokens: set[str] | None = None,
        *,
        verbose: bool = False,
        lfs: bool = True,
        socket_timeout: float = SOCKET_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.store = HubStore(root)
        self.cas = XetStore(self.store)
        self.tokens = tokens
        self.verbose = verbose
        self.lfs = lfs
        self.socket_timeout = socket_timeout
        self.signer = Signer()
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(addr, HubHandler)

    @property
    def auth_mode(self) -> str:
        """One line saying which tokens are accepted (for the operator; never the tokens)."""
        return auth_mode(self.tokens)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request: socket.socket, client_address: tuple) -> None:
        # At most max_connections handler threads: past that a new connection is told 503 and closed.
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: tuple) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tokens: set[str] | None = None,
    verbose: bool = False,
    lfs: bool = True,
    socket_timeout: float = SOCKET_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> RehearsalHub:
    """Create (but do not start) a rehearsal Hub storing under ``root`` and bound to ``host:port``.

    ``tokens``: the accepted bearer tokens; default ``$HF_SYNTH_HUB_TOKENS`` (comma-separated); with
    neither, *open* mode: any non-empty token reads and writes (``server.auth_mode`` says which). Open
    mode binds to loopback only (``ValueError`` otherwise). ``lfs`` (default True) classifies files as
    the Hub does: binary, large (>= 10 MB) and LFS-suffixed files travel through Xet (default clients)
    or git-LFS (``HF_HUB_DISABLE_XET=1``), other files inline; ``lfs=False`` sends everything inline.
    ``socket_timeout`` (seconds) drops idle or stalled connections; past ``max_connections`` concurrent
    connections new ones get 503. Run it with ``server.serve_forever()``, stop it with
    ``server.shutdown()`` then ``server.server_close()``; ``server.url`` is its base URL.
    """
    tokens = tokens if tokens is not None else tokens_from_env()
    if tokens is None and host not in _LOOPBACK:
        raise ValueError(f"refusing to serve {host} in open auth mode: give a token list (--token)")
    return RehearsalHub(
        (host, port),
        Path(root),
        tokens,
        verbose=verbose,
        lfs=lfs,
        socket_timeout=socket_timeout,
        max_connections=max_connections,
    )


@contextlib.contextmanager
def running_hub(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tokens: set[str] | None = None,
    lfs: bool = True,
) -> Iterator[str]:
    """Run a rehearsal Hub in a background thread for the duration of the block; yield its URL."""
    server = serve(root, host, port, tokens=tokens, lfs=lfs)
    thread = threading.Thread(target=server.serve_forever, name="hf-synth-hub", daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
