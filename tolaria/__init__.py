"""Tolaria: reinforcement learning for Magic: The Gathering agents, laptop to cluster."""

__version__ = "0.1.0"
