"""A raw line socket for tests that must send exactly the bytes they choose."""

from __future__ import annotations

import socket


class Wire:
    def __init__(self, port: int, timeout: float = 20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> str | None:
        """The next line, or None when the daemon closed the connection."""
        data = self.file.readline()
        return data.decode().rstrip("\n") if data.endswith(b"\n") else None

    def lines(self, count: int) -> list[str | None]:
        return [self.line() for _ in range(count)]

    def until_closed(self) -> list[str]:
        out = []
        while (line := self.line()) is not None:
            out.append(line)
        return out

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exchange(port: int, data: bytes | str, timeout: float = 20) -> list[str]:
    """Send bytes on a fresh connection; every line until the daemon closes it."""
    with Wire(port, timeout) as wire:
        wire.send(data)
        return wire.until_closed()
