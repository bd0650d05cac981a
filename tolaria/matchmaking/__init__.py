"""Matchmaking: who plays whom. The opponent of each self-play game (`opponents`), the league
of past policy snapshots it draws from (`league`), and the seeded match schedule of the
evaluator and the warm start (`schedule`).

A level below the actor, the evaluator and the learner, which all draw on it; it imports none
of them (nor `tolaria.inference`: it decides who plays, not how a policy answers).
"""
