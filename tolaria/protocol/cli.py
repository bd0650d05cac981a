"""`tolaria status`: ask a game daemon (the built-in one or Forge's) for its STATUS.

Exits 0 and prints the answer when the daemon answers, 1 with the reason when it does not:
the daemon image's health check, and a quick look at a daemon by hand.
"""

from __future__ import annotations

import argparse
import sys

from tolaria.protocol.endpoints import parse_endpoints
from tolaria.protocol.errors import DaemonError
from tolaria.protocol.sync_client import DaemonClient


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="the daemon, HOST:PORT (the port defaults to 17171)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to connect and to answer"
    )


def run(args: argparse.Namespace) -> int:
    try:
        endpoints = parse_endpoints(args.address)
    except ValueError as error:
        print(f"tolaria status: {error}", file=sys.stderr)
        return 2
    if len(endpoints) != 1:
        print(f"tolaria status: {args.address!r} names {len(endpoints)} daemons; give one", file=sys.stderr)
        return 2
    ((host, port),) = endpoints
    try:
        with DaemonClient(host, port, connect_timeout=args.timeout, read_timeout=args.timeout) as client:
            status = client.status()
    except (DaemonError, OSError) as error:
        print(f"tolaria status: {error}", file=sys.stderr)
        return 1
    print("\n".join(status.lines()))
    return 0
