"""Per-request logits inside the batching engine: grammar masks, forced tokens and recorded log-probabilities.

transformers' continuous batching runs one logits-processor list over every row of a step. `PerRequestLogits` is a
processor that touches only the rows of requests that registered a `RequestLogits`, so one request can decode under
a grammar, another be teacher-forced through an option to score it, and a third record its top log-probabilities,
all in the same step as plain requests whose rows pass untouched. A step with no such row is not touched at all: the
default path's tokens stay the same, bit for bit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.logits_process import LogitsProcessorList

from llm.grammar import Matcher, apply_bitmask, bitmask_words


@dataclass
class RequestLogits:
    """What one request asks of its logits, and what was recorded for it.

    - `matcher`: decode under this grammar (the row is masked to the tokens it allows).
    - `top_logprobs`: record, for each token, (token, its log-probability, the top k (token, log-probability) pairs).
    - `forced`: emit exactly these tokens, recording each one's log-probability in `forced_logprobs` (scoring a
      continuation); `gather`: at the first step, record the log-probabilities of these tokens in `gathered`.
    - `exact`: compute this request's logits with the model's exact head (see `ScreenedHead`), for scores.
    Log-probabilities are of the model's own distribution, before any mask or forcing.
    """

    matcher: Matcher | None = None
    top_logprobs: int | None = None
    forced: list[int] | None = None
    gather: list[int] | None = None
    exact: bool = False
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)
    forced_logprobs: list[float] = field(default_factory=list)
    gathered: list[float] | None = None

    def needs_logprobs(self) -> bool:
        """True when this row's log-softmax must be computed."""
        return self.top_logprobs is not None or bool(self.forced) or bool(self.gather)


class PerRequestLogits(ContinuousBatchingLogitsProcessor):
    """The engine's processor for requests that registered a `RequestLogits` (the others pass untouched).

    The library calls `prepare_tensor_args` on its loop thread with the rows of the coming step in logits order
    (after the previous step's tokens were added to each request), then runs the forward on the same thread and
    calls `__call__` with that step's scores. `exact_head` is a context factory of the model's exact head, entered
    for a step that has a row asking for exact scores."""

    supported_kwargs: dict[str, type] = {}
    ignored_kwargs: tuple[str, ...] = ()

    def __init__(self, vocab_size: int, max_rows: int,
                 exact_head: Callable[[], contextlib.AbstractContextManager[Any]] | None = None) -> None:
        self._requests: dict[str, RequestLogits] = {}
        self._lock = threading.Lock()
        self._bitmask = torch.full((max_rows, bitmask_words(vocab_size)), -1, dtype=torch.int32)
        self._rows: list[RequestLogits | None] = []
        self._steps: list[int] = []
        self._masked = False
        self._exact_head = exact_head
        self._exact: contextlib.ExitStack | None = None

    def register(self, request_id: str, request: RequestLogits) -> None:
        """Apply `request` to the logits of request `request_id` from its first token on."""
        with self._lock:
            self._requests[request_id] = request

    def forget(self, request_id: str | None = None) -> None:
        """Stop tracking one request (None: every request)."""
        with self._lock:
            if request_id is None:
                self._requests.clear()
            else:
                self._requests.pop(request_id, None)

    @property
    def tracked(self) -> int:
        """Requests registered now."""
        with self._lock:
            return len(self._requests)

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        """The library's per-row argument (unused: rows are known from `prepare_tensor_args`)."""
        int32_tensor.fill_(0)

    def prepare_tensor_args(self, requests_with_new_token: list[Any]) -> torch.Tensor:
        """Advance each tracked request's grammar over its new tokens and fill its row of the mask."""
        self._leave_exact()
        with self._lock:
            rows = [self._requests.get(r.state.request_id) for r in requests_with_new_token] if self._requests else []
        self._rows, self._steps, self._masked = [], [], False
        if any(row is not None for row in rows):
            self._rows = rows
            self._steps = [len(r.state.generated_tokens) for r in requests_with_new_token]
            if len(rows) > self._bitmask.shape[0]:
                self._bitmask = torch.full((len(rows), self._bitmask.shape[1]), -1, dtype=torch.int32)
            for i, (row, request) in enumerate(zip(rows, requests_with_new_token, strict=True)):
                if row is not None and row.matcher is not None:
                    row.matcher.advance(request.state.generated_tokens)
                    row.matcher.fill(self._bitmask[i])
                    self._masked = True
                else:
                    self._bitmask[i].fill_(-1)
            if self._exact_head is not None and any(row is not None and row.exact for row in rows):
                self._exact = contextlib.ExitStack()
                self._exact.enter_context(self._exact_head())  # this thread's next forward uses the exact head
        return torch.zeros(len(requests_with_new_token), dtype=torch.int32)

    def _leave_exact(self) -> None:
        if self._exact is not None:
            self._exact.close()
            self._exact = None

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        self._leave_exact()
        if not self._rows:
            return scores
        n = len(self._rows)
        wanted = [i for i, row in enumerate(self._rows) if row is not None and row.needs_logprobs()]
        logp = torch.log_softmax(scores[wanted].float(), dim=-1) if wanted else None
        if self._masked:
            apply_bitmask(scores[:n], self._bitmask[:n])
        for j, i in enumerate(wanted):
            row = self._rows[i]
            assert row is not None and logp is not None
            self._record(row, self._steps[i], logp[j], scores[i])
        return scores

    @staticmethod
    def _record(row: RequestLogits, step: int, logp: torch.Tensor, scores: torch.Tensor) -> None:
        """Record what `row` asked of this step's log-probabilities; force its token if it is being scored."""
        if row.gather and step == 0:
            row.gathered = logp[row.gather].tolist()
        if row.forced and step < len(row.forced):
            token = row.forced[step]
            row.forced_logprobs.append(float(logp[token]))
            scores.fill_(float("-inf"))
            scores[token] = 0.0
        if row.top_logprobs is not None:
            chosen = int(scores.argmax())
            k = min(row.top_logprobs, logp.shape[-1])
            top = torch.topk(logp, k) if k else None
            pairs = list(zip(top.indices.tolist(), top.values.tolist(), strict=True)) if top is not None else []
            row.logprobs.append((chosen, float(logp[chosen]), pairs))


def install(manager: Any, processor: PerRequestLogits) -> None:
    """Add `processor` to a continuous-batching manager's logits processors, before its loop starts (the loop sizes
    the processors' argument storage when it starts)."""
    processors = LogitsProcessorList([*manager.logit_processor.logits_processor, processor])
    combined = ContinuousBatchingLogitsProcessorList(processors)
    combined.tensors_required = sum(isinstance(p, ContinuousBatchingLogitsProcessor) for p in processors)
    manager.logit_processor = combined
