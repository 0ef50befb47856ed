"""The HTTP protocol the API's server speaks: uvicorn's h11, with Nagle's algorithm off on every connection.

A single uvicorn process listens through asyncio, which switches Nagle's algorithm off on each
connection it accepts. With ``--workers N`` the workers share a socket that uvicorn makes without
naming TCP, and asyncio then leaves it on: a keep-alive answer written in two parts waits for the
client's delayed acknowledgement, 40 ms on Linux, and one client gets 20 answers a second whatever the
cores. :class:`NoDelayH11Protocol` sets ``TCP_NODELAY`` itself when a connection is made, so every
worker answers as a single process does.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol"]


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with ``TCP_NODELAY`` set on each TCP connection as it is made."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Switch Nagle's algorithm off, then start the connection as h11 does."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - a socket closed under us; h11 handles the rest
                pass
        super().connection_made(transport)
