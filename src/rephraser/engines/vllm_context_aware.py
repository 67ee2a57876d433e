"""Context-aware decoding on vLLM: a batch logits processor that pairs each request with its twin.

vLLM's V1 logits processors (vllm.v1.sample.logits_processor.LogitsProcessor) see one row of logits
per running request and nothing else, so the distribution without the document has to be a request
of its own. `engines/vllm.py` sends two requests per call, tagged in `SamplingParams.extra_args`:

- the **main** request: the prompt with its document (its structure, logit bias and sampling);
- its **contrast** twin: the same prompt without the document, no structure.

At every engine step where both rows are present and have generated the same number of tokens, this
processor computes (1+a)·log p(y | document, prompt) − a·log p(y | prompt) from the two rows (after
the plausibility cut the embedded engine uses, engines/steering.py), samples ONE token from it with
the main request's temperature / top-k / top-p and its own seeded generator, and turns both rows
into that token alone, so vLLM's sampler picks it for both and the twin stays in step.

Where the two rows are out of step (vLLM scheduled one without the other: a chunked prefill, a
preemption), the main row is left as it is (a plain token) and a twin that is behind copies the
main's next token; a twin that got ahead cannot be undone, so its pair decodes plainly from then on.
A twin that is behind never catches up either (the main moves on each step too): submitting the twin
first, with a shorter prompt, is what keeps most pairs in step from their first token.
What vLLM's sampler still does after us: penalties and temperature act on a one-token row (no effect).

The math (`contrast_scores`, `sample_token`) and the pairing (`step_pairs`) are plain functions over
torch tensors, tested on CPU without vLLM (tests/engines/test_vllm_context_aware.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import torch

try:  # the base class vLLM checks for; without vLLM the processor is still usable (and tested) directly
    from vllm.v1.sample.logits_processor import LogitsProcessor as _Base
except ImportError:  # pragma: no cover - depends on the installed packages
    _Base = object  # type: ignore[assignment,misc]

KEY = "rephraser_cad"  # SamplingParams.extra_args key: {"pair": id, "role": "main"|"contrast", "alpha": a}
PLAUSIBLE = math.log(0.1)  # the same cut as engines/steering.py: p(y|document) >= 0.1 x its top allowed token
SAMPLING_EPS = 1e-5  # temperatures below this are greedy, as in vLLM


def contrast_scores(with_source: torch.Tensor, without_source: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1+alpha)·log p(y|source, prompt) − alpha·log p(y|prompt) for one row (or a batch of rows).

    `with_source` may hold -inf where a structure forbids a token (vLLM applies the grammar bitmask
    before logits processors): those stay -inf, and plausibility is judged against the best token the
    structure allows, so a structure that forbids the overall favourite still leaves candidates."""
    lp = torch.log_softmax(with_source.float(), dim=-1)
    lq = torch.log_softmax(without_source.float(), dim=-1)
    out = (1.0 + alpha) * lp - alpha * lq
    top = lp.max(dim=-1, keepdim=True).values
    return out.masked_fill(lp < top + PLAUSIBLE, float("-inf"))


def sample_token(scores: torch.Tensor, temperature: float, top_k: int, top_p: float,
                 generator: torch.Generator | None) -> int:
    """One token id from a row of scores with the request's sampling settings (top_k <= 0: off)."""
    if temperature < SAMPLING_EPS:
        return int(torch.argmax(scores).item())
    x = scores.float() / temperature
    if 0 < top_k < x.numel():
        kth = torch.topk(x, top_k).values[-1]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        probs, order = torch.sort(torch.softmax(x, dim=-1), descending=True)
        drop = torch.cumsum(probs, dim=-1) - probs > top_p  # keep the smallest head whose mass reaches top_p
        x[order[drop]] = float("-inf")
    probs = torch.softmax(x, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())


@dataclass
class Row:
    """One tagged request in vLLM's persistent batch."""

    pair: str
    role: str  # "main" | "contrast"
    output: list[int]  # vLLM's running list of this request's generated tokens (a live reference)
    alpha: float = 0.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class Pair:
    main: Row | None = None
    contrast: Row | None = None
    broken: bool = False  # the twin got ahead of the main: plain decoding from then on
    # tokens sampled from the contrast / main tokens without it, since the pair last entered the batch
    contrasted: int = 0
    plain: int = 0
    generator: torch.Generator | None = field(default=None, repr=False)


def _force(logits: torch.Tensor, row: int, token: int) -> None:
    logits[row].fill_(float("-inf"))
    logits[row, token] = 0.0


def step_pairs(logits: torch.Tensor, rows: dict[int, Row], pairs: dict[str, Pair]) -> torch.Tensor:
    """One engine step: contrast every pair in step, keep the others consistent (in place; returns logits)."""
    present: dict[str, dict[str, int]] = {}
    for index, row in rows.items():
        if index < logits.shape[0]:
            present.setdefault(row.pair, {})[row.role] = index
    for pair_id, roles in present.items():
        pair = pairs[pair_id]
        m, c = roles.get("main"), roles.get("contrast")
        main, twin = pair.main, pair.contrast
        # in step: the twin holds exactly the main's tokens (compared, not counted: a pair that was out of
        # step and dropped from the batch comes back as a new Pair without its `broken` mark)
        in_step = (m is not None and c is not None and main is not None and twin is not None
                   and twin.output == main.output)
        if in_step and not pair.broken:
            assert main is not None and m is not None and c is not None
            if pair.generator is None:
                pair.generator = torch.Generator(device=logits.device)
                pair.generator.manual_seed(main.seed if main.seed is not None else random.getrandbits(63))
            scores = contrast_scores(logits[m], logits[c], main.alpha)
            token = sample_token(scores, main.temperature, main.top_k, main.top_p, pair.generator)
            _force(logits, m, token)
            _force(logits, c, token)
            pair.contrasted += 1
            continue
        if m is not None:
            pair.plain += 1  # the main row samples as vLLM would without us
        if c is not None and twin is not None:
            n = len(twin.output)
            behind = main is not None and n < len(main.output) and twin.output == main.output[:n]
            if behind and not pair.broken:
                assert main is not None
                _force(logits, c, main.output[n])  # catch up on a token the main already has
            elif main is not None:
                pair.broken = True  # the twin writes a token the main has not chosen: it can never match again
    return logits


def row_from_params(params: Any, output: list[int]) -> Row | None:
    """A Row from a request's SamplingParams, or None when it is not tagged for this processor."""
    tag = (getattr(params, "extra_args", None) or {}).get(KEY)
    if tag is None:
        return None
    top_k = getattr(params, "top_k", 0) or 0
    return Row(pair=str(tag["pair"]), role=tag["role"], output=output, alpha=float(tag.get("alpha", 0.0)),
               temperature=float(getattr(params, "temperature", 1.0)), top_k=top_k if top_k > 0 else 0,
               top_p=float(getattr(params, "top_p", 1.0)), seed=getattr(params, "seed", None))


class ContextAwareProcessor(_Base):  # type: ignore[misc,valid-type]
    """The vLLM V1 logits processor (load it with engine args `logits_processors=[FQCN]`)."""

    def __init__(self, vllm_config: Any = None, device: Any = None, is_pin_memory: bool = False):
        self.rows: dict[int, Row] = {}
        self.pairs: dict[str, Pair] = {}

    @classmethod
    def validate_params(cls, params: Any) -> None:
        tag = (getattr(params, "extra_args", None) or {}).get(KEY)
        if tag is None:
            return
        if not isinstance(tag, dict) or tag.get("role") not in ("main", "contrast") or "pair" not in tag:
            raise ValueError(f"extra_args.{KEY} needs pair and role (main or contrast), got {tag!r}")
        alpha = tag.get("alpha", 0.0)
        if not isinstance(alpha, int | float) or not 0.0 <= alpha <= 5.0:
            raise ValueError(f"extra_args.{KEY}.alpha must be a number in [0, 5], got {alpha!r}")

    def is_argmax_invariant(self) -> bool:
        return False  # it changes which token wins

    def update_state(self, batch_update: Any) -> None:
        """vLLM's batch changes, in its documented order: removed, added, moved."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self._drop(index)
        for added in batch_update.added:
            # (index, params, [prompt ids,] output ids): the prompt ids were added in later releases
            index, params, output = added[0], added[1], added[-1]
            self._drop(index)
            row = row_from_params(params, output)
            if row is not None:
                self.rows[index] = row
                pair = self.pairs.setdefault(row.pair, Pair())
                setattr(pair, row.role, row)
        for a, b, direction in batch_update.moved:
            ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
            if ra is not None:
                self.rows[b] = ra
            if rb is not None and getattr(direction, "name", str(direction)).upper().endswith("SWAP"):
                self.rows[a] = rb
            elif rb is not None:
                self._forget(rb)  # a one-way move replaces the row at b

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.rows:
            return logits
        return step_pairs(logits, self.rows, self.pairs)

    def _drop(self, index: int) -> None:
        row = self.rows.pop(index, None)
        if row is not None:
            self._forget(row)

    def _forget(self, row: Row) -> None:
        pair = self.pairs.get(row.pair)
        if pair is None:
            return
        if getattr(pair, row.role) is row:
            setattr(pair, row.role, None)
        if pair.main is None and pair.contrast is None:
            del self.pairs[row.pair]
