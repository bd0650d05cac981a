"""The policy network: cards -> set model -> value and masked action heads.

Inputs are the arrays of `tolaria.trainer.encoding.Encoder` as tensors (`to_tensors`).

- Each card slot embeds its name id plus a projection of its features. The `deepsets`
  architecture runs a per-card MLP and pools (masked mean and max); `transformer` prepends a
  global token to the cards and runs a pre-norm transformer encoder over them.
- The trunk vector `z` (pooled cards + global features + decision type) feeds the value head.
- Each option slot embeds its name id, its features, the embedding of the card slot it refers to
  and `z`; three heads read the option vectors:
  * KIND_ONE (choose_action, choose_entity, choose_ability, yes/no, announce_value):
    a categorical over the offered options;
  * KIND_SUBSET (declare_attackers, choose_cards): an independent yes/no per option, conditioned
    on min <= count <= max (a conditional Bernoulli: exact log-probability through a dynamic
    programme over counts, exact sampling through the suffix table of the same programme);
  * KIND_PAIRS (declare_blockers): per blocker a categorical over its legal targets (no block or
    an attacker it `can_block`), scored as a dot product of blocker and target vectors plus a small
    MLP of the pair's combat outcome (who dies: `pair_feat`), which a dot product of pooled
    vectors only approximates; a lone blocker on a menace attacker is turned into no block after
    sampling.

An action is an int64 vector of `max_options` entries: KIND_ONE keeps the chosen slot in entry 0;
KIND_SUBSET holds 0/1 per option; KIND_PAIRS holds the target slot per blocker (0 = no block).
The entropy bonus counts every decision alike, whatever its kind: KIND_SUBSET's is the mean of
the offered options' unconstrained Bernoulli entropies (the exact entropy of the conditional
distribution has no cheap closed form; it only regularises), KIND_PAIRS's the mean of its
blockers' categorical entropies. Summed instead, an attack or block decision over up to
`max_options` options would get several times the entropy bonus of a single choice, and PPO
would keep those decisions near uniform.

Under autocast the trunk runs in reduced precision, the heads in float32 (`forward`), so that
the learner's log-probabilities agree with those the actors recorded in float32.

Padding: slots past a decision's last card, option or block target are masked out everywhere, so a
batch may drop the slots no row uses (`trim_padding`, `keep_slots`) or keep more of them, and the
outputs of the slots it keeps do not change. Two ways to run, with the same outputs:
- by default (`static_shapes=False`, the CPU learner and the actors) the deepsets card MLP runs on
  the present cards only, gathered by the card mask, and the option MLP on the offered options and
  block targets only: about half the card slots of a batch are padding, seven option slots in
  eight (a batch is as wide as its widest decision) and nearly every block target, and on a CPU
  skipping them is the largest saving;
- with `static_shapes=True` (torch.compile, CUDA) every card and option slot runs and padding is
  masked out (the pooling reads present cards only, padded option vectors are zeros): no shape
  depends on the values of the batch, so a compiled graph holds for every batch of the same
  widths, and on CUDA nothing waits for the device to learn a shape. The
  learner then pads the widths up to buckets (`minibatch_widths`), and passes the subset
  programmes' width (`action_log_probs`) from the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import (
    CARD_FEATURES,
    DECISION_TYPES,
    GLOBAL_FEATURES,
    KIND_ONE,
    KIND_PAIRS,
    KIND_SUBSET,
    OPTION_FEATURES,
    OPTION_MENACE,
    PAIR_FEATURES,
)

MASKED = -1e9  # finite, so that rows of another kind never produce NaN through torch.where
_P_CLAMP = 1e-6
# With bucketing, a slot width is rounded up to the slot count, its half, quarter or eighth: a
# compiled learner meets a handful of shapes, not one per minibatch. Halvings rather than
# multiples of a few slots, because each combination of widths is a graph to compile (a minute or
# more), while padding costs little on a GPU, and a large minibatch uses most slots anyway.
SLOT_BUCKETS = 4


def to_tensors(arrays: dict[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Encoder arrays -> tensors on `device` (indices become int64, masks bool, features float32
    whether they were kept in float32 or half precision)."""
    return {
        name: as_network_input(torch.from_numpy(np.ascontiguousarray(value))).to(device, non_blocking=True)
        for name, value in arrays.items()
    }


def as_network_input(tensor: torch.Tensor) -> torch.Tensor:
    """An encoder array's tensor in the dtype the network takes: int32 indices as int64, features
    kept in half precision (`tolaria.trainer.imitation.Demonstrations`) as float32."""
    if tensor.dtype == torch.int32:
        return tensor.long()
    if tensor.dtype == torch.float16:
        return tensor.float()
    return tensor


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch without its trailing card, option and block-target slots that no row uses.

    Slots past a decision's last card, option or target are masked out everywhere, so dropping
    the columns that are padding in every row changes no output, and the option heads (most
    decisions offer a few options of `max_options`) run on a fraction of the rows."""
    return keep_slots(
        batch,
        _used_width(batch["card_mask"].any(0)),
        _used_width(batch["option_mask"].any(0)),
        _used_width(batch["block_mask"].any(1).any(0)),
    )


def keep_slots(
    batch: dict[str, torch.Tensor], cards: int, options: int, targets: int
) -> dict[str, torch.Tensor]:
    """The first `cards` card slots, `options` option slots and `targets` block-target slots of
    every row (views)."""
    out = dict(batch)
    for name in ("card_name", "card_feat", "card_mask"):
        out[name] = batch[name][:, :cards]
    for name in ("option_name", "option_card", "option_feat", "option_mask"):
        out[name] = batch[name][:, :options]
    for name in ("target_card", "target_feat"):
        out[name] = batch[name][:, :targets]
    out["block_mask"] = batch["block_mask"][:, :options, :targets]
    out["pair_feat"] = batch["pair_feat"][:, :options, :targets]
    return out


def _used_width(used: torch.Tensor) -> int:
    """1 + the last used slot (at least 1, so that every row keeps a tensor to pool over)."""
    slots = used.nonzero()
    return max(1, int(slots[-1, 0]) + 1) if len(slots) else 1


@dataclass(frozen=True)
class SlotWidths:
    """The card, option and block-target slots a minibatch keeps, and the option columns its
    subset programmes cover (0: it holds no subset decision)."""

    cards: int
    options: int
    targets: int
    subset: int


def slot_extents(observations: dict[str, np.ndarray]) -> np.ndarray:
    """Per decision, [n, 4]: 1 + its last used card, option and block-target slot (0: none), and
    the options it offers if it is a subset decision (else 0). Read on the host, so that a
    minibatch's widths (`minibatch_widths`) never wait for the device."""

    def extent(used: np.ndarray) -> np.ndarray:
        return np.where(used.any(1), used.shape[1] - used[:, ::-1].argmax(1), 0)

    options = observations["option_mask"]
    return np.stack(
        [
            extent(observations["card_mask"]),
            extent(options),
            extent(observations["block_mask"].any(1)),
            np.where(observations["kind"] == KIND_SUBSET, options.sum(1), 0),
        ],
        axis=1,
    )


def all_slots(observations: dict[str, np.ndarray]) -> SlotWidths:
    """The slot counts of a batch (its arrays' widths): what no bucket exceeds."""
    options = observations["option_mask"].shape[1]
    return SlotWidths(
        observations["card_mask"].shape[1], options, observations["block_mask"].shape[2], options
    )


def minibatch_widths(extents: np.ndarray, slots: SlotWidths, bucket: bool) -> SlotWidths:
    """The widths that hold every row of a minibatch (`slot_extents` of its rows), at least one
    slot of each (the subset width may be 0). With `bucket`, card and option widths are rounded
    up to a bucket of their slot count; block targets keep all their slots (eight or ten: a
    bucket would add graphs, not save work); the subset programmes cover every option kept (one
    graph rather than one per subset width; a large minibatch's widest subset decision mostly
    falls in the bucket of its widest decision anyway)."""
    cards, options, targets, subset = (int(width) for width in extents.max(0))
    if not bucket:
        return SlotWidths(max(1, cards), max(1, options), max(1, targets), subset)
    options = _bucket(max(1, options), slots.options)
    return SlotWidths(_bucket(max(1, cards), slots.cards), options, slots.targets, options)


def _bucket(width: int, slots: int) -> int:
    """The smallest of `slots`, its half, quarter, ... (`SLOT_BUCKETS` in all, rounded up) that
    holds `width` (>= 1)."""
    bucket = slots
    for _ in range(SLOT_BUCKETS - 1):
        half = -(-bucket // 2)
        if half < width:
            break
        bucket = half
    return bucket


class PolicyNetwork(nn.Module):
    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.name_embedding = nn.Embedding(config.name_buckets, d, padding_idx=0)
        self.card_in = nn.Linear(CARD_FEATURES, d)
        self.global_in = nn.Linear(GLOBAL_FEATURES, d)
        self.decision_embedding = nn.Embedding(len(DECISION_TYPES), d)
        if config.architecture == "transformer":
            layer = nn.TransformerEncoderLayer(
                d,
                config.heads,
                config.ff_dim,
                dropout=0.0,
                batch_first=True,
                norm_first=True,
                activation="gelu",
            )
            self.card_model = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.trunk = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.ReLU())
        else:
            blocks: list[nn.Module] = []
            for _ in range(config.layers):
                blocks += [nn.ReLU(), nn.Linear(d, d)]
            self.card_model = nn.Sequential(*blocks)
            self.trunk = nn.Sequential(nn.Linear(3 * d, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU())
        self.option_in = nn.Linear(OPTION_FEATURES, d)
        self.context_to_option = nn.Linear(d, d)
        self.option_model = nn.Sequential(
            nn.ReLU(),
            nn.Linear(d, config.ff_dim),
            nn.ReLU(),
            nn.Linear(config.ff_dim, d),
            nn.ReLU(),
        )
        self.one_head = nn.Linear(d, 1)
        self.subset_head = nn.Linear(d, 1)
        self.blocker_query = nn.Linear(d, d)
        self.target_key = nn.Linear(d, d)
        self.pair_score = nn.Sequential(nn.Linear(PAIR_FEATURES, 16), nn.ReLU(), nn.Linear(16, 1))
        self.value_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))

    def forward(
        self, batch: dict[str, torch.Tensor], static_shapes: bool = False
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """-> (logits by kind, value). Logits of masked-out slots are MASKED. `static_shapes`: every
        card slot runs, so that no shape depends on the batch's values (see the module)."""
        card_mask = batch["card_mask"]
        context = self.global_in(batch["global_feat"]) + self.decision_embedding(batch["decision_type"])
        if self.config.architecture == "transformer":
            cards = self.name_embedding(batch["card_name"]) + self.card_in(batch["card_feat"])
            tokens = torch.cat([context.unsqueeze(1), cards], dim=1)
            pad = torch.cat([torch.zeros_like(card_mask[:, :1]), ~card_mask], dim=1)
            encoded = self.card_model(tokens, src_key_padding_mask=pad)
            slots = encoded[:, 1:]
            card_rows = slots.flatten(0, 1) if static_shapes else slots[card_mask]
            z = self.trunk(encoded[:, 0])
        else:
            if static_shapes:
                slots = self.card_model(
                    self.name_embedding(batch["card_name"]) + self.card_in(batch["card_feat"])
                )
                mean, biggest = _pool_slots(slots, card_mask)
                card_rows = slots.flatten(0, 1)
            else:
                # The per-card MLP runs on the cards present only: about half the slots of a batch
                # are padding, and pooling reads the present cards directly.
                card_rows = self.card_model(
                    self.name_embedding(batch["card_name"][card_mask])
                    + self.card_in(batch["card_feat"][card_mask])
                )
                mean, biggest = _pool(card_rows, card_mask)
            z = self.trunk(torch.cat([mean.to(context.dtype), biggest.to(context.dtype), context], dim=-1))
        # Row 0 of `table` is "no card"; a present card's slot maps to its row: 1 + the slot's flat
        # index when every slot has a row, else 1 + its position among the batch's present cards
        # (in row-major order).
        table = F.pad(card_rows, (0, 0, 1, 0))
        if static_shapes:
            rows = torch.arange(1, card_mask.numel() + 1, device=card_mask.device).view_as(card_mask)
        else:
            rows = card_mask.flatten().cumsum(0).view_as(card_mask)
        row_of_slot = torch.where(card_mask, rows, 0)

        option_mask = batch["option_mask"]
        context = self.context_to_option(z)
        options = self._option_vectors(
            batch["option_name"],
            batch["option_card"],
            batch["option_feat"],
            option_mask,
            table,
            row_of_slot,
            context,
            static_shapes,
        )
        targets = self._option_vectors(
            None,
            batch["target_card"],
            batch["target_feat"],
            batch["block_mask"].any(1),
            table,
            row_of_slot,
            context,
            static_shapes,
        )
        # The heads run in float32 even under autocast: a logit rounded to bf16 (8 bits of
        # mantissa) moves a log-probability by up to ~1%, and the learner's log-probabilities must
        # match the ones the actors recorded in float32 (PPO's ratio is 1 at the first epoch).
        with torch.autocast(z.device.type, enabled=False):
            options, targets, z = options.float(), targets.float(), z.float()
            one = self.one_head(options).squeeze(-1).masked_fill(~option_mask, MASKED)
            subset = self.subset_head(options).squeeze(-1)
            query, key = self.blocker_query(options), self.target_key(targets)
            pairs = (query @ key.transpose(1, 2)) / math.sqrt(query.shape[-1])
            pairs = pairs + self.pair_score(batch["pair_feat"].float()).squeeze(-1)
            pairs = pairs.masked_fill(~batch["block_mask"], MASKED)
            value = self.value_head(z).squeeze(-1)
        return {"one": one, "subset": subset, "pairs": pairs}, value

    def _option_vectors(
        self,
        names: torch.Tensor | None,
        card_index: torch.Tensor,
        feats: torch.Tensor,
        present: torch.Tensor,
        table: torch.Tensor,
        row_of_slot: torch.Tensor,
        context: torch.Tensor,
        static_shapes: bool,
    ) -> torch.Tensor:
        """The vectors [B, slots, d] of the `present` option (or block-target) slots; zeros in the
        others."""
        slots = row_of_slot.shape[1]
        refers = (card_index >= 0) & (card_index < slots)  # to a slot that is not a card: no card
        rows = torch.where(refers, row_of_slot.gather(1, card_index.clamp(0, slots - 1)), 0)
        if static_shapes:
            h = self.option_in(feats) + context.unsqueeze(1) + F.embedding(rows, table)
            if names is not None:
                h = h + self.name_embedding(names)
            return self.option_model(h).masked_fill(~present.unsqueeze(-1), 0.0)
        # The option MLP runs on the present slots only: a batch is as wide as its widest
        # decision, and about one option slot in eight and one block target in eighty is used.
        flat = present.flatten().nonzero().squeeze(1)
        h = (
            self.option_in(feats[present])
            + context.index_select(0, flat // present.shape[1])
            + F.embedding(rows[present], table)
        )
        if names is not None:
            h = h + self.name_embedding(names[present])
        vectors = self.option_model(h)
        placed = vectors.new_zeros(present.numel(), vectors.shape[-1]).index_copy(0, flat, vectors)
        return placed.view(*present.shape, -1)

    @torch.no_grad()
    def act(
        self, batch: dict[str, torch.Tensor], greedy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or, greedy, pick the likeliest) actions -> (actions [B,O], log_probs [B], values [B])."""
        trimmed = trim_padding(batch)
        logits, values = self(trimmed)
        actions, log_probs = sample_actions(logits, trimmed, greedy)
        return F.pad(actions, (0, batch["option_mask"].shape[1] - actions.shape[1])), log_probs, values

    def evaluate(
        self, batch: dict[str, torch.Tensor], actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (log_probs [B], entropy [B], values [B]) of given actions, with gradients."""
        logits, values = self(batch)
        log_probs, entropy = action_log_probs(logits, batch, actions)
        return log_probs, entropy, values


def _pool(present: torch.Tensor, card_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked mean and max over each decision's cards, from the present cards' vectors [N, d]
    (in row-major order of `card_mask`); a decision without cards pools to zeros."""
    present = present.float()  # scatter amax has no reduced-precision kernels everywhere
    rows = card_mask.nonzero()[:, 0]
    shape = (card_mask.shape[0], present.shape[-1])
    total = present.new_zeros(shape).index_add(0, rows, present)
    mean = total / card_mask.sum(1, keepdim=True).clamp(min=1)
    biggest = present.new_zeros(shape).scatter_reduce(
        0, rows.unsqueeze(-1).expand_as(present), present, "amax", include_self=False
    )
    return mean, biggest


def _pool_slots(slots: torch.Tensor, card_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`_pool` from every slot's vector [B, C, d], padding masked out: the same mean and max."""
    slots = slots.float()
    present = card_mask.unsqueeze(-1)
    mean = slots.masked_fill(~present, 0.0).sum(1) / card_mask.sum(1, keepdim=True).clamp(min=1)
    biggest = slots.masked_fill(~present, -math.inf).amax(1)
    return mean, torch.where(card_mask.any(1, keepdim=True), biggest, 0.0)


def _subset_width(kind: torch.Tensor, option_mask: torch.Tensor) -> int:
    """Option columns the subset programmes must cover: the most options any KIND_SUBSET row offers
    (0 without one). Options fill slots from the left, and subset decisions offer few of them
    (attackers, cards), so the programmes' Python loops run over a handful of columns, not all."""
    subset_rows = kind == KIND_SUBSET
    if not bool(subset_rows.any()):
        return 0
    return int(option_mask[subset_rows].sum(1).max())


def _subset_probabilities(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits.double()).clamp(_P_CLAMP, 1 - _P_CLAMP)
    return p * valid.double()


def _subset_log_partition(p: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    batch, n = p.shape
    dp = F.pad(p.new_ones(batch, 1), (0, n))  # P(count = 0) = 1 before any option
    for i in range(n):
        pi = p[:, i : i + 1]
        dp = dp * (1 - pi) + F.pad(dp, (1, 0))[:, :-1] * pi
    counts = torch.arange(n + 1, device=p.device)
    in_range = (counts >= low.unsqueeze(1)) & (counts <= high.unsqueeze(1))
    return torch.log((dp * in_range).sum(1).clamp(min=1e-300))


def sample_actions(
    logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], greedy: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw (or, greedy, pick the likeliest) actions -> (actions [B, O], log-probabilities [B]),
    the log-probabilities being those `action_log_probs` gives the same actions."""
    kind, option_mask = batch["kind"], batch["option_mask"]
    one_logp = F.log_softmax(logits["one"], -1)
    pair_logp = F.log_softmax(logits["pairs"], -1)
    one = _draw(one_logp, greedy)
    pairs = _drop_lone_menace_blocks(
        _draw(pair_logp, greedy) * option_mask, batch["target_feat"][..., OPTION_MENACE] > 0.5
    )
    actions = torch.zeros_like(option_mask, dtype=torch.long)
    actions[:, 0] = torch.where(kind == KIND_ONE, one, 0)
    actions = torch.where((kind == KIND_PAIRS).unsqueeze(1), pairs, actions)
    log_prob = torch.where(
        kind == KIND_ONE,
        one_logp.gather(1, one.unsqueeze(1)).squeeze(1),
        (pair_logp.gather(2, pairs.unsqueeze(-1)).squeeze(-1) * option_mask).sum(-1),
    )
    rows = (kind == KIND_SUBSET).nonzero().squeeze(1)
    if len(rows):
        width = int(option_mask[rows].sum(1).max())
        picks, subset_log_prob = _sample_subsets(
            logits["subset"][rows, :width],
            option_mask[rows, :width],
            batch["select_min"][rows].long(),
            batch["select_max"][rows].long(),
            greedy,
        )
        actions[rows, :width] = picks
        log_prob[rows] = subset_log_prob.to(log_prob.dtype)
    return actions, log_prob


def _draw(log_probs: torch.Tensor, greedy: bool) -> torch.Tensor:
    """A categorical draw over the last dimension (Gumbel-max), or its argmax when greedy."""
    if greedy:
        return log_probs.argmax(-1)
    return (log_probs - torch.empty_like(log_probs).exponential_().log()).argmax(-1)


def _sample_subsets(
    logits: torch.Tensor, valid: torch.Tensor, low: torch.Tensor, high: torch.Tensor, greedy: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditional Bernoulli draws for the KIND_SUBSET rows: each option in with its own
    probability, conditioned on low <= count <= high. Exact, option by option: option i is taken
    with probability p_i * P(the rest complete a legal count | taken) / P(legal | choices so far),
    from the suffix table of count probabilities. In numpy: a handful of rows and options, where
    per-operation overhead, not arithmetic, is the cost. -> (picks [R, W], log-probabilities [R])."""
    device = logits.device
    p = _subset_probabilities(logits, valid).cpu().numpy()
    offered = valid.cpu().numpy()
    low_np, high_np = low.cpu().numpy(), high.cpu().numpy()
    uniform = None if greedy else torch.rand(p.shape, dtype=torch.float64).numpy()
    rows, width = p.shape
    # suffix[:, i, k] = P(exactly k of options i.. are chosen), choices independent
    suffix = np.zeros((rows, width + 1, width + 1))
    suffix[:, width, 0] = 1.0
    for i in reversed(range(width)):
        suffix[:, i] = suffix[:, i + 1] * (1 - p[:, i, None])
        suffix[:, i, 1:] += suffix[:, i + 1, :-1] * p[:, i, None]
    counts = np.arange(width + 1)

    def mass(i: int, least: np.ndarray, most: np.ndarray) -> np.ndarray:
        """P(least <= number chosen among options i.. <= most), per row. Summed term by term: as a
        difference of cumulative sums it cancels to 0 when every legal count is improbable (a
        forced discard of 8 that the network would rather not make), and nothing got picked."""
        inside = (counts >= least[:, None]) & (counts <= most[:, None])
        return (suffix[:, i] * inside).sum(-1)

    chosen = np.zeros(rows, np.int64)
    picks = np.zeros((rows, width), np.int64)
    for i in range(width):
        take = p[:, i] * mass(i + 1, low_np - chosen - 1, high_np - chosen - 1)
        skip = (1 - p[:, i]) * mass(i + 1, low_np - chosen, high_np - chosen)
        prob = take / np.maximum(take + skip, 1e-300)
        pick = ((prob > 0.5) if uniform is None else (uniform[:, i] < prob)) & offered[:, i]
        picks[:, i] = pick
        chosen += pick
    log_p, log_q = np.log(np.maximum(p, _P_CLAMP)), np.log(np.maximum(1 - p, _P_CLAMP))
    log_prob = ((picks * log_p + (1 - picks) * log_q) * offered).sum(-1)
    log_prob -= np.log(np.maximum(mass(0, low_np, high_np), 1e-300))
    return torch.from_numpy(picks).to(device), torch.from_numpy(log_prob).to(device)


def _drop_lone_menace_blocks(pairs: torch.Tensor, menace: torch.Tensor) -> torch.Tensor:
    """A menace attacker needs two or more blockers: a lone blocker on one is turned into no block.
    (The action is recorded after this, so actor and learner score the same action.)"""
    counts = F.one_hot(pairs, menace.shape[1]).sum(1)  # [B, T]: blockers per target slot
    lone = menace & (counts == 1)
    lone[:, 0] = False
    return torch.where(torch.gather(lone, 1, pairs), torch.zeros_like(pairs), pairs)


def action_log_probs(
    logits: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    actions: torch.Tensor,
    subset_width: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (log-probability [B], entropy [B]) of `actions` under the masked heads. `subset_width`:
    the option columns the subset programmes cover, at least the most options a subset row offers
    (`slot_extents`); by default read from the batch, which waits for the device."""
    kind, option_mask = batch["kind"], batch["option_mask"]
    valid = option_mask.to(torch.float64)

    one_logp = F.log_softmax(logits["one"], -1)
    one_lp = one_logp.gather(1, actions[:, :1].clamp(0, one_logp.shape[1] - 1)).squeeze(1)
    one_ent = -(one_logp.exp() * one_logp).masked_fill(~option_mask, 0.0).sum(-1)

    width = _subset_width(kind, option_mask) if subset_width is None else subset_width
    valid = valid[:, :width]
    p = _subset_probabilities(logits["subset"][:, :width], option_mask[:, :width])
    x = actions[:, :width].clamp(0, 1).double() * valid
    log_p, log_q = torch.log(p.clamp(min=_P_CLAMP)), torch.log((1 - p).clamp(min=_P_CLAMP))
    subset_lp = ((x * log_p + (1 - x) * log_q) * valid).sum(-1)
    subset_lp = subset_lp - _subset_log_partition(p, batch["select_min"].long(), batch["select_max"].long())
    bernoulli_ent = -(p * log_p + (1 - p) * log_q) * valid
    # per decision, not per option: the mean over the options offered (see the module)
    subset_ent = bernoulli_ent.sum(-1) / valid.sum(-1).clamp(min=1)

    pair_logp = F.log_softmax(logits["pairs"], -1)
    targets = actions.clamp(0, pair_logp.shape[-1] - 1).unsqueeze(-1)
    pair_lp = (pair_logp.gather(2, targets).squeeze(-1) * option_mask).sum(-1)
    pair_ent = (
        -(pair_logp.exp() * pair_logp).masked_fill(~batch["block_mask"], 0.0).sum(-1) * option_mask
    ).sum(-1) / option_mask.sum(-1).clamp(min=1)

    log_prob = torch.where(
        kind == KIND_ONE, one_lp, torch.where(kind == KIND_SUBSET, subset_lp.float(), pair_lp)
    )
    entropy = torch.where(
        kind == KIND_ONE, one_ent, torch.where(kind == KIND_SUBSET, subset_ent.float(), pair_ent)
    )
    return log_prob, entropy


def load_weights(model: PolicyNetwork, state: dict[str, torch.Tensor], source: str) -> None:
    """`model.load_state_dict(state)`, with a ValueError naming `source` when the tensors do not
    fit: weights saved by a Tolaria whose encoder or network had another layout (its network
    config can read the same, since input widths are the code's, not the config's)."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = str(e).strip().splitlines()
        raise ValueError(
            f"{source} does not fit this network (saved by a Tolaria version with another "
            f"encoder or network layout; start a new run or checkpoint location): {detail[-1].strip()}"
        ) from e


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
