"""A pool of daemon clients over endpoints that may resolve to several addresses (a headless
Service): one client per address, kept across games, re-resolved by each `refresh` so that a
replaced daemon pod is found and a removed one dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from tolaria.protocol.aio_client import AsyncDaemonClient
from tolaria.protocol.endpoints import resolve_endpoints


@dataclass
class DaemonClients:
    """The clients of `endpoints`, as of the last `refresh`."""

    endpoints: list[tuple[str, int]]
    client_name: str  # in the daemon's log and STATUS: who holds the games
    read_timeout: float = 120.0
    clients: dict[tuple[str, int], AsyncDaemonClient] = field(default_factory=dict)

    async def refresh(self) -> list[AsyncDaemonClient]:
        addresses = resolve_endpoints(self.endpoints)
        for address in list(self.clients):
            if address not in addresses:
                await self.clients.pop(address).close()
        for address in addresses:
            if address not in self.clients:
                self.clients[address] = AsyncDaemonClient(
                    *address, client_name=self.client_name, read_timeout=self.read_timeout
                )
        if not self.clients:
            raise ConnectionError(f"no daemon endpoint resolves: {self.endpoints}")
        return list(self.clients.values())

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
