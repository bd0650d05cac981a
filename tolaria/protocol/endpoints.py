"""Daemon endpoints as users give them (`host:port,host2`) and the addresses behind them.

A name may stand for many addresses (the headless Service of a daemon pool), so callers resolve
again from time to time to follow the pool as it scales. `first_listening` tells whether any of
them takes connections yet (what a component starting beside its daemons waits for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence

from tolaria.protocol.errors import DaemonUnavailable

log = logging.getLogger(__name__)


def parse_endpoints(text: str, default_port: int = 17171) -> list[tuple[str, int]]:
    """`host:port,host2` -> [(host, port), ...]; a name may stand for many addresses (a headless
    Service), which `resolve_endpoints` expands."""
    endpoints = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, str(default_port)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"daemon endpoint {item!r} is not host or host:port")
        endpoints.append((host.strip("[]"), int(port)))
    if not endpoints:
        raise ValueError("no daemon endpoints given (--daemons host:port,...)")
    return endpoints


def resolve_endpoints(endpoints: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Every address of every endpoint, in order and without repeats; names that do not resolve
    are left out with a warning."""
    resolved: dict[tuple[str, int], None] = {}
    for host, port in endpoints:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            log.warning("daemon endpoint %s:%d does not resolve: %s", host, port, e)
            continue
        for info in infos:
            resolved[(str(info[4][0]), port)] = None
    return list(resolved)


def format_endpoints(endpoints: Sequence[tuple[str, int]]) -> str:
    """`host:port,host2:port`, as `parse_endpoints` reads it."""
    return ",".join(f"{host}:{port}" for host, port in endpoints)


async def first_listening(endpoints: Sequence[tuple[str, int]], timeout: float = 5.0) -> tuple[str, int]:
    """The first address of `endpoints` that accepts a TCP connection (closed at once; nothing is
    sent, so a Forge daemon that queues its connections counts as up). DaemonUnavailable, naming
    each endpoint's failure (a name that does not resolve, a refused or timed-out connection),
    when none does."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    for host, port in endpoints:
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            failures.append(f"{host}:{port} does not resolve ({e})")
            continue
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(address, port)
            except TimeoutError:
                failures.append(f"{host}:{port} ({address}): no connection within {timeout:g}s")
                continue
            except OSError as e:  # asyncio's text for a refused connection does not say so
                failures.append(f"{host}:{port} ({address}): {os.strerror(e.errno) if e.errno else e}")
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return address, port
    raise DaemonUnavailable("; ".join(failures) or "no daemon endpoints")
