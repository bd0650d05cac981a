"""Decision.parse on arbitrary text: a legal Answer or a ReplyError, never anything else; and
every legal Answer is accepted by Game.submit."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.helpers import DECK_NAMES, deck
from tolaria.engine import Game, RandomPlayer, ReplyError


def _pair(seed: int):
    n = len(DECK_NAMES)
    return (deck(DECK_NAMES[seed % n]), deck(DECK_NAMES[(seed // n) % n]))


def _decisions():
    """A spread of real pending decisions of every type the engine emits."""
    out = {}
    for seed in range(len(DECK_NAMES) ** 2):
        pair = _pair(seed)
        g = Game(pair, seed=seed)
        players = (RandomPlayer(seed), RandomPlayer(seed + 1))
        d = g.start()
        while d is not None:
            out.setdefault((d.type, d.purpose), seed)
            d = g.submit(players[d.seat].choose(d) if d.expects_reply else None)
    return out


FIRST_SEED = _decisions()  # (type, purpose) -> the first seed whose game asks it
DECISION_KINDS = sorted(FIRST_SEED)
REPLY_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789,:- yntrue", max_size=20),
    st.lists(st.integers(-3, 12), max_size=6).map(lambda xs: ",".join(map(str, xs))),
    st.lists(st.tuples(st.integers(-1, 8), st.integers(-1, 8)), max_size=5).map(
        lambda ps: ",".join(f"{b}:{a}" for b, a in ps)
    ),
)


def _pending(kind: tuple[str, str], seed: int):
    """Replay game `seed` with random players until the first decision of `kind`."""
    g = Game(_pair(seed), seed=seed)
    players = (RandomPlayer(seed), RandomPlayer(seed + 1))
    d = g.start()
    while (d.type, d.purpose) != kind:
        d = g.submit(players[d.seat].choose(d) if d.expects_reply else None)
    return g, d


def test_every_decision_type_is_covered():
    types = {t for t, _ in DECISION_KINDS}
    assert types >= {
        "choose_action",
        "declare_attackers",
        "declare_blockers",
        "choose_cards",
        "choose_entity",
    }
    assert types >= {"confirm_action", "play_trigger", "reveal", "announce_value", "assign_combat_damage"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind_index=st.integers(0, len(DECISION_KINDS) - 1), text=REPLY_TEXT)
def test_parse_gives_a_legal_answer_or_a_reply_error(kind_index, text):
    kind = DECISION_KINDS[kind_index]
    g, d = _pending(kind, FIRST_SEED[kind])
    try:
        answer = d.parse(text)
    except ReplyError as e:
        assert str(e)
        answer = d.default()
    nxt = g.submit(answer)
    assert nxt is None or nxt.decision_id >= 1
