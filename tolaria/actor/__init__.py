"""Actors: many concurrent games against the daemon pool, answered by one batched policy
(`tolaria.inference`), each game's opponent drawn by `tolaria.matchmaking`, with finished
trajectories shipped to the run's Redis rollout stream.

    settings = ActorSettings(pairings=spec.pairings(), opponents=spec.actors.opponents)
    actor = Actor(settings, redis_asyncio_client, RunKeys(ns, name), DaemonPool(endpoints))
    await actor.run(stop_event)
"""

from tolaria.actor.actor import Actor, ActorSettings
from tolaria.actor.daemons import DaemonPool
from tolaria.actor.shipper import RolloutShipper
from tolaria.actor.trajectory import Trajectory, outcome_reward

__all__ = [
    "Actor",
    "ActorSettings",
    "DaemonPool",
    "RolloutShipper",
    "Trajectory",
    "outcome_reward",
]
