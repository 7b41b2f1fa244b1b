"""The HTTP protocol `accord serve` runs: uvicorn's, with TCP_NODELAY on every connection.

With `--workers N`, uvicorn binds the listening socket itself with protocol number 0, and
asyncio only turns Nagle's algorithm off for sockets whose protocol is TCP by number. A
response written in two parts (headers, then body) then waited for the client's delayed
ACK: 40 ms on every request (`/healthz` answered in 44 ms with two workers, 1.4 ms with one).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
    """uvicorn's HTTP protocol (httptools when installed, else h11), answering without Nagle's delay."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Turn Nagle's algorithm off, then take the connection as uvicorn does."""
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # a transport that cannot take the option still answers
                pass
        super().connection_made(transport)
