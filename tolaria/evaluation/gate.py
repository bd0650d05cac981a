"""The promotion gate's decision: does a candidate policy replace the one the actors play?

The candidate plays `evaluation.games` games against the promoted version, both seats. It is
promoted when the lower end of the 95% confidence interval of its win rate (Wilson's, draws
half a win: `tolaria.evaluation.confidence`) is at least 0.5 - `evaluation.promotionMargin`.

In words: promoted only when the games show, at 97.5% one-sided confidence, that the candidate
scores at least 0.5 - margin against the current policy. A point estimate would promote a
worse policy whenever a few lucky games push its mean over the line, and with 200 games the
mean's standard error is 0.035, so the line is crossed by luck often. With the interval, the
margin states how much worse than even a promoted policy may be at most, the number of games
states how sure the gate is, and more games let a smaller real improvement through:

- margin 0: the candidate must be shown better than even (200 games: about 0.57 observed);
- margin 0.05 (a policy that is not shown to be worse by more than 5 points): with 200 games
  an observed 0.52 passes, an even result does not;
- margin 0.5 or more: every candidate that finished a game passes (the gate only orders
  promotions), since no lower bound is below 0.

A candidate without a finished game is never promoted.
"""

from __future__ import annotations

from tolaria.evaluation.confidence import WinRate


def promotion_threshold(margin: float) -> float:
    """The least lower confidence bound that promotes."""
    if not 0.0 <= margin <= 1.0:
        raise ValueError(f"the promotion margin lies in [0, 1], not {margin!r}")
    return 0.5 - margin


def promotes(outcomes: WinRate, margin: float) -> bool:
    """Whether the candidate's games against the promoted version promote it (see the module)."""
    threshold = promotion_threshold(margin)
    return outcomes.games > 0 and outcomes.interval[0] >= threshold
