"""A policy answering the decisions of many concurrent games with batched forward passes.

Games call `await player.answer(payload)`. Requests that arrive while a forward pass runs wait
for the next one, so the batch grows with the number of games waiting on the policy and no
timer is needed: one game alone is answered at once, a hundred games share one pass. The pass
(encode, forward, replies) runs in a worker thread, so the event loop keeps reading daemon
lines meanwhile.

Action choice: `greedy` answers with the likeliest action of each head (the evaluator's
default: it measures what the policy knows rather than the luck of its sampling); otherwise
actions are sampled from the policy's distribution, as the actors play.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import torch

from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork, to_tensors
from tolaria.trainer.weights import PolicyWeights


def pick_device(device: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; anything else as torch spells it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_policy(weights: PolicyWeights, device: torch.device) -> PolicyNetwork:
    model = PolicyNetwork(weights.network)
    model.load_state_dict(weights.state_dict)
    return model.to(device).eval()


class PolicyPlayer:
    """One policy version serving any number of games; use as an async context manager."""

    def __init__(
        self,
        weights: PolicyWeights,
        device: torch.device,
        greedy: bool = True,
        max_batch: int = 512,
        on_batch: Any = None,
    ):
        self.version = weights.version
        self.model = load_policy(weights, device)
        self.encoder = Encoder(weights.network)
        self.device = device
        self.greedy = greedy
        self.max_batch = max_batch
        self.on_batch = on_batch  # called with the size of every batch (metrics)
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PolicyPlayer:
        self._task = asyncio.create_task(self._serve(), name=f"policy-v{self.version}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._waiting:
            future.cancel()

    async def answer(self, payload: dict[str, Any]) -> str:
        """The policy's reply text to one DECISION payload."""
        if self._task is None or self._task.done():
            raise RuntimeError(f"policy v{self.version} is not serving (use it as a context manager)")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((payload, future))
        self._wake.set()
        return await future

    async def _serve(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                live = [(p, f) for p, f in batch if not f.done()]
                if not live:
                    continue
                try:
                    replies: list[str | Exception] = list(
                        await asyncio.to_thread(self._replies, [p for p, _ in live])
                    )
                except Exception:  # a malformed payload: answer one by one, so only its game fails
                    replies = [await asyncio.to_thread(self._reply_or_error, p) for p, _ in live]
                for (_, future), reply in zip(live, replies, strict=True):
                    if future.done():
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
                if self.on_batch is not None:
                    self.on_batch(len(live))

    def _reply_or_error(self, payload: dict[str, Any]) -> str | Exception:
        try:
            return self._replies([payload])[0]
        except Exception as e:
            return e

    def _replies(self, payloads: list[dict[str, Any]]) -> list[str]:
        arrays, offered = self.encoder.encode_offered(payloads)
        with torch.inference_mode():
            actions, _, _ = self.model.act(to_tensors(arrays, self.device), greedy=self.greedy)
        rows = actions.cpu().numpy()
        return [self.encoder.reply(o, row) for o, row in zip(offered, rows, strict=True)]
