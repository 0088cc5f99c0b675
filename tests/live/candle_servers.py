"""Candle servers for the feed tests: the replay server on a port chosen beforehand, so that a feed can be pointed
at a URL while nothing listens there (connection refused) and find the server there later (it came back)."""

from __future__ import annotations

import socket
from typing import Any

from tests.data.replay_server import ReplayServer, _make_handler


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ReplayServerOnPort(ReplayServer):
    """``ReplayServer`` listening on ``port`` instead of one the system picks."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._httpd.server_close()
        self._listen(_make_handler(self), port)
