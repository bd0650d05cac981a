"""Evaluation: win rates with confidence intervals, Elo ratings, the league of past policies and
the evaluator process that measures each policy version against baselines."""
