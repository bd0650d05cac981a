"""Daemon endpoints as users give them (`host:port,host2`) and the addresses behind them.

A name may stand for many addresses (the headless Service of a daemon pool), so callers resolve
again from time to time to follow the pool as it scales.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

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
