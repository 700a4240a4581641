"""The app served by uvicorn on loopback (in a thread), called with ``requests``: real
sockets, real headers. Shared by the API, webhook and workspace tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import uvicorn
from requests import Response


class Client:
    """``requests`` against a base URL (the subset of TestClient's interface used here)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> Response:
        return self.http.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.http.post(self.base + path, timeout=30, **kw)


@contextmanager
def serve(web: Any, port: int | None = None) -> Iterator[Client]:
    """Serve ``web`` on loopback, on ``port`` (a free one when None), until the block ends."""
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        yield client
    finally:
        client.http.close()
        server.should_exit = True
        thread.join(10)
