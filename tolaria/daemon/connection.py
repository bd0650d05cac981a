"""One client connection as the daemon sees it: capped line reads, buffered line writes."""

from __future__ import annotations

import asyncio

WRITE_BUFFER_HIGH = 1024 * 1024


class LineTooLong(Exception):
    """The client sent a line longer than the cap; the connection cannot be resynchronised."""


class Interrupted(Exception):
    """The daemon cut a pending read short (shutdown)."""


class ClientConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_line_bytes: int):
        self.reader = reader
        self.writer = writer
        self.max_line_bytes = max_line_bytes
        self.persistent = False
        self.interrupted = False
        self._read_deadline: asyncio.Timeout | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    async def read_line(self, timeout: float) -> str | None:
        """The next line without its line end; None at end of input. Raises TimeoutError,
        LineTooLong or Interrupted."""
        if self.interrupted:
            raise Interrupted
        try:
            async with asyncio.timeout(timeout) as deadline:
                self._read_deadline = deadline
                data = await self.reader.readline()
        except ValueError:
            raise LineTooLong from None
        except TimeoutError:
            if self.interrupted:
                raise Interrupted from None
            raise
        except OSError:  # reset by the peer: the client is gone
            return None
        finally:
            self._read_deadline = None
        if not data:
            return None
        if not data.endswith(b"\n"):
            # End of input in the middle of a line: the client is gone.
            return None
        return data[:-1].decode("utf-8", "replace").rstrip("\r")

    def write_line(self, line: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(line.encode("utf-8") + b"\n")

    async def flush(self, timeout: float) -> bool:
        """Wait for a large write buffer to drain; False when the client stopped reading or left."""
        if self.writer.is_closing():
            return False
        if self.writer.transport.get_write_buffer_size() <= WRITE_BUFFER_HIGH:
            return True
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
        except (TimeoutError, OSError):
            return False
        return True

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def interrupt(self) -> None:
        """Make the pending read, and every later one, raise Interrupted."""
        self.interrupted = True
        if self._read_deadline is not None:
            self._read_deadline.reschedule(asyncio.get_running_loop().time())

    async def linger(self, seconds: float = 1.0, max_bytes: int = 1 << 20) -> None:
        """Half-close, then drop what the client still sends for a moment: closing a socket
        with unread input resets it, and the reset can destroy our last lines in flight."""
        if self.writer.is_closing() or not self.writer.can_write_eof():
            return
        try:
            self.writer.write_eof()
            async with asyncio.timeout(seconds):
                discarded = 0
                while discarded < max_bytes and (chunk := await self.reader.read(65536)):
                    discarded += len(chunk)
        except (TimeoutError, OSError):
            pass

    def close(self) -> None:
        self.writer.close()
