"""Evaluation: the evaluator process that measures each policy version against baselines and the
league, its games over daemon connections, win rates with confidence intervals and Elo ratings.
It plays through `tolaria.inference` and takes its opponents and schedule from
`tolaria.matchmaking`."""
