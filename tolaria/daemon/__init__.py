"""The built-in game daemon: serves engine games over the Forge daemon protocol.

`tolaria daemon --port 17171 --decks DIR` (cli.py); PROTOCOL.md is the contract. Where
PROTOCOL.md leaves room, this daemon behaves as follows (clients in tolaria.protocol rely on it):

- SHUTDOWN answers `OK: shutting down`; running games get `--grace` seconds, then end with
  `GAME_ERROR: daemon shutting down` and a draw (`reason=shutdown`).
- A game that ends by GAME_TIMEOUT or GAME_ERROR closes the connection, persistent or not: a
  reply still in flight could not be told apart from the next command.
- GAME_RESULT carries `turns=N reason=R`; R is the engine's (life, decking, turn_limit,
  concede, ...) or timeout, reply_timeout, error, shutdown.
- `ERROR: busy (N/M games running)` when a worker runs `--max-games` games; STATUS, HELLO
  and SHUTDOWN are always answered. With `--workers N` each worker has its own limit and
  STATUS describes the worker that answered (extra line `worker: i/N`).
- A line over `--max-line-bytes` gets `ERROR: Line too long (limit N bytes)` and the
  connection closes (a game on it is dropped).
- Seats played by the random player are named `Random(n)-<deck>`.
- `-t N` is accepted; the built-in AI decides in milliseconds, far below any limit.
"""
