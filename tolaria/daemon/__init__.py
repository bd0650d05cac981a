"""The built-in game daemon: serves engine games over the Forge daemon protocol.

`tolaria daemon --port 17171 --decks DIR` (see cli.py); PROTOCOL.md is the contract.
"""
