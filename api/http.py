"""The HTTP protocol the API's server speaks: uvicorn's h11, with Nagle's algorithm off on every connection.

A single uvicorn process listens through asyncio, which switches Nagle's algorithm off on each
connection it accepts. With ``--workers N`` the workers share a socket that uvicorn makes without
naming TCP, and asyncio then leaves it on: a keep-alive answer written in two parts waits for the
client's delayed acknowledgement, 40 ms on Linux, and one client gets 20 answers a second whatever the
cores. :class:`NoDelayH11Protocol` sets ``TCP_NODELAY`` itself when a connection is made, so every
worker answers as a single process does.

uvicorn's access log writes each request's path with its query string; :class:`PathOnly` drops the query
string (a client may put a name or a key there, and the log must not keep it), and
:func:`keep_queries_out_of_access_log` installs it on uvicorn's access logger.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol", "PathOnly", "keep_queries_out_of_access_log"]

ACCESS_LOGGER = "uvicorn.access"


class PathOnly(logging.Filter):
    """Rewrite uvicorn's access-log records so they show the path without its query string.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with the client, the method, the path with its query
    string, the HTTP version and the status; the third argument loses everything from ``?`` on (shown as ``?…``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the query string from the record's path; keep the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def keep_queries_out_of_access_log() -> None:
    """Install :class:`PathOnly` on uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, PathOnly) for f in logger.filters):
        logger.addFilter(PathOnly())


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
