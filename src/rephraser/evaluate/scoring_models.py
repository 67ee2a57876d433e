"""ScoringModel implementations: the proxy checkpoint (train/model.py) and local HF causal LMs.

Both go through `TorchCausalScorer`, which turns (context, continuation) pairs into token windows,
runs them as right-padded batches (a causal model never looks right, so padding needs no mask) and
sums the continuation's token log-probs. Windows are sorted by length so a batch holds similar
lengths (the choices of one item end up together).

Two tokenization conventions, chosen by the definitions profile (evaluate/definitions.py):
  rephraser  no special tokens; the context is encoded alone and the joined text is cut at its length
             when the joined encoding starts with it (else the continuation is encoded alone); an empty
             context becomes `prefix_ids`.
  lighteval  lighteval 0.10's loglikelihood requests, re-implemented: trailing whitespace of the context
             moves to the front of the continuation; context and joined text are encoded with the
             tokenizer's default special tokens (BOS where the tokenizer adds one by default); the
             continuation is the joined encoding after the context's token count (one token fewer
             when both have the same length); an empty context becomes [EOS].
Under both, the model input is context + continuation minus its last token, cut from the left to the
window (max_len tokens); a continuation longer than the window is scored in overlapping windows with at
least half a window of preceding text (bits per byte on long documents).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rephraser.errors import RephraserError

MAX_HF_WINDOW = 4096  # cap for HF models that advertise very long contexts (CPU memory)
TOKENIZATIONS = ("rephraser", "lighteval")
# The weights' precision while scoring. The study scored in bf16 on GPUs; fp32 is the default elsewhere
# because CPUs without native bf16 emulate it (slow) and round differently from a GPU's bf16 kernels, so a
# CPU bf16 score matches neither the study nor fp32 exactly. "auto": bf16 for the study profile on a
# device with bf16 support (CUDA), fp32 otherwise. Log-softmax always runs in fp32.
DTYPES = ("auto", "float32", "bfloat16")

Encode = Callable[[str, bool], list[int]]  # (text, add the tokenizer's default special tokens) -> ids


class TorchCausalScorer:
    def __init__(self, name: str, encode: Encode, forward: Callable[[Any], Any], max_len: int,
                 prefix_ids: list[int], device: str = "cpu", batch_tokens: int = 4096,
                 eos_id: int | None = None, tokenization: str = "rephraser", dtype: str = "float32") -> None:
        if max_len < 2:
            raise ValueError("max_len must be at least 2")
        if not prefix_ids:
            raise ValueError("prefix_ids (e.g. BOS/EOS) is needed to score text with an empty context")
        if tokenization not in TOKENIZATIONS:
            raise ValueError(f"unknown tokenization {tokenization!r}")
        self.name = name
        self.encode = encode
        self.forward = forward
        self.max_len = max_len
        self.prefix_ids = prefix_ids
        self.device = device
        self.batch_tokens = batch_tokens
        self.eos_id = eos_id if eos_id is not None else prefix_ids[-1]
        self.tokenization = tokenization
        self.dtype = dtype  # the weights' precision, recorded with the results

    def with_tokenization(self, tokenization: str) -> TorchCausalScorer:
        """The same model and tokenizer, scoring requests under another convention."""
        if tokenization not in TOKENIZATIONS:
            raise ValueError(f"unknown tokenization {tokenization!r}")
        other = copy.copy(self)
        other.tokenization = tokenization
        return other

    # -- tokenisation --------------------------------------------------------------------------
    def _split(self, context: str, continuation: str, cache: dict[str, list[int]]) -> tuple[list[int], list[int]]:
        if context not in cache:
            cache[context] = self.encode(context, False) if context else []
        ctx = cache[context]
        # Encode the joined text and cut at the context length so merges across the boundary match
        # what the model saw in training; fall back to separate encoding if the prefix changed.
        whole = self.encode(context + continuation, False)
        cont = whole[len(ctx):] if ctx and whole[: len(ctx)] == ctx else self.encode(continuation, False)
        return (ctx or list(self.prefix_ids)), cont

    def _split_lighteval(self, context: str, continuation: str,
                         cache: dict[str, list[int]]) -> tuple[list[int], list[int]]:
        if context == "":
            return [self.eos_id], self.encode(continuation, True)
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        if context not in cache:
            cache[context] = self.encode(context, True)
        ctx = cache[context]
        if not ctx:  # a context that encodes to nothing is treated as empty
            return [self.eos_id], self.encode(continuation, True)
        whole = self.encode(context + continuation, True)
        cut = len(ctx)
        if cut == len(whole):  # the continuation merged into the context's last token
            cut -= 1
            ctx = whole[:cut]
        return ctx, whole[cut:]

    def _windows(self, n_ctx: int, n_total: int) -> list[tuple[int, int, int]]:
        """(window start, first target, end) triples covering targets n_ctx..n_total-1.

        A window feeds at most max_len tokens to the model (its last token is only a target), so a
        request that does not fit keeps its continuation and the nearest max_len - len(continuation)
        context tokens, as lm-eval and lighteval cut from the left.
        """
        if n_total - n_ctx <= self.max_len:
            return [(max(0, n_total - 1 - self.max_len), n_ctx, n_total)]
        step = max(1, self.max_len // 2)
        out = []
        for t0 in range(n_ctx, n_total, step):
            t1 = min(n_total, t0 + step)
            out.append((max(0, t1 - 1 - self.max_len), t0, t1))
        return out

    def fits(self, requests: Sequence[tuple[str, str]]) -> bool:
        """Whether every request is scored with its whole context inside the window (nothing cut on the left)."""
        split = self._split_lighteval if self.tokenization == "lighteval" else self._split
        cache: dict[str, list[int]] = {}
        for context, continuation in requests:
            ctx, cont = split(context, continuation, cache)
            if len(ctx) + len(cont) - 1 > self.max_len:  # the last token is only a target, never an input
                return False
        return True

    # -- scoring -------------------------------------------------------------------------------
    def score(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, int, int]]:
        import torch

        split = self._split_lighteval if self.tokenization == "lighteval" else self._split
        cache: dict[str, list[int]] = {}
        sums = [0.0] * len(requests)
        counts = [0] * len(requests)
        jobs: list[tuple[int, list[int], int]] = []  # (request, window tokens, index of first target)
        for r, (context, continuation) in enumerate(requests):
            ctx, cont = split(context, continuation, cache)
            tokens = ctx + cont
            for start, t0, t1 in self._windows(len(ctx), len(tokens)):
                jobs.append((r, tokens[start:t1], t0 - start))
            counts[r] = len(cont)
        jobs.sort(key=lambda j: -len(j[1]))
        with torch.inference_mode():
            i = 0
            while i < len(jobs):
                width = len(jobs[i][1])
                batch = jobs[i : i + max(1, self.batch_tokens // max(1, width))]
                i += len(batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                for b, (_, toks, _) in enumerate(batch):
                    ids[b, : len(toks)] = torch.tensor(toks, dtype=torch.long)
                # The last token of a window is only a target, never an input.
                logits = self.forward(ids[:, : width - 1].to(self.device))
                for b, (r, toks, first) in enumerate(batch):
                    targets = ids[b, first : len(toks)].to(logits.device)
                    logp = torch.log_softmax(logits[b, first - 1 : len(toks) - 1].float(), dim=-1)
                    sums[r] += float(logp.gather(-1, targets[:, None]).sum())
        return [(sums[r], counts[r], len(cont.encode("utf-8"))) for r, (_, cont) in enumerate(requests)]


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise RephraserError(f"unknown --dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    return dtype


def resolve_dtype(dtype: str, profile: str, device: str | None) -> str:
    """The precision "auto" means here: bfloat16 for the study profile where the device has bf16, else float32."""
    check_dtype(dtype)
    if dtype != "auto":
        return dtype
    if profile != "study":
        return "float32"
    import torch

    dev = _device(device)
    cuda_bf16 = dev.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bfloat16" if cuda_bf16 else "float32"


def _cast(model: Any, dtype: str) -> Any:
    import torch

    return model.to(torch.bfloat16) if dtype == "bfloat16" else model


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_proxy_scorer(path: str | Path, device: str | None = None, batch_tokens: int = 4096,
                      dtype: str = "float32") -> TorchCausalScorer:
    from rephraser.train.model import load_checkpoint

    dev = _device(device)
    model, tokenizer, cfg = load_checkpoint(path, device=dev)
    model = _cast(model, dtype).eval()
    prefix = [cfg.eos_id] if cfg.eos_id is not None else None
    if prefix is None:
        eos = next((tokenizer.token_to_id(t) for t in ("<|endoftext|>", "</s>", "<eos>", "[EOS]")
                    if tokenizer.token_to_id(t) is not None), None)
        prefix = [eos] if eos is not None else tokenizer.encode("\n", add_special_tokens=False).ids
    return TorchCausalScorer(
        name=str(path), encode=lambda s, special=False: tokenizer.encode(s, add_special_tokens=special).ids,
        forward=model, max_len=cfg.max_seq_len, prefix_ids=prefix, device=dev, batch_tokens=batch_tokens,
        eos_id=cfg.eos_id if cfg.eos_id is not None else prefix[-1], dtype=dtype,
    )


def _hf_vocab_size(path: Path) -> int | None:
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    size = cfg.get("vocab_size", (cfg.get("text_config") or {}).get("vocab_size"))
    return size if isinstance(size, int) else None


def load_hf_scorer(path: str | Path, device: str | None = None, batch_tokens: int = 4096,
                   dtype: str = "float32") -> TorchCausalScorer:
    """A local HF causal LM folder; never downloads (local_files_only)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise RephraserError("scoring a Hugging Face model needs `pip install transformers`") from e
    from rephraser.train.model import check_vocab

    dev = _device(device)
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        vocab = _hf_vocab_size(Path(path))
        if vocab is not None:  # before the weights load; the embedding may be padded beyond the tokenizer
            check_vocab(len(tok), vocab, path, exact=False)
        model = _cast(AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True), dtype).to(dev).eval()
    except (OSError, ValueError) as e:
        raise RephraserError(f"cannot load a Hugging Face causal LM from {path}: {str(e).splitlines()[0]}") from e
    special = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    prefix = [special] if special is not None else tok("\n", add_special_tokens=False)["input_ids"]
    max_len = min(int(getattr(model.config, "max_position_embeddings", 2048) or 2048), MAX_HF_WINDOW)
    return TorchCausalScorer(
        name=str(path), encode=lambda s, special=False: tok(s, add_special_tokens=special)["input_ids"],
        forward=lambda ids: model(input_ids=ids).logits, max_len=max_len, prefix_ids=prefix,
        device=dev, batch_tokens=batch_tokens, eos_id=tok.eos_token_id, dtype=dtype,
    )


def detect_kind(path: str | Path) -> str:
    """'proxy' for an train/model.py checkpoint, 'hf' for a transformers folder."""
    p = Path(path)
    if not p.is_dir():
        raise RephraserError(f"model folder not found: {p}")
    if (p / "model.pt").is_file() and (p / "tokenizer.json").is_file() and (p / "config.json").is_file():
        return "proxy"
    cfg = p / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text())
        except json.JSONDecodeError as e:
            raise RephraserError(f"{cfg} is not valid JSON: {e}") from e
        if "model_type" in data or "architectures" in data:
            return "hf"
    raise RephraserError(f"{p} is neither a proxy checkpoint (config.json, model.pt, tokenizer.json) "
                         "nor a Hugging Face model folder (config.json with model_type)")


def load_scoring_model(path: str | Path, kind: str = "auto", device: str | None = None,
                       dtype: str = "float32") -> TorchCausalScorer:
    """dtype: "float32" or "bfloat16" (resolve "auto" first with resolve_dtype)."""
    if dtype not in ("float32", "bfloat16"):
        raise RephraserError(f"dtype {dtype!r}: load a model as float32 or bfloat16")
    kind = detect_kind(path) if kind == "auto" else kind
    return load_hf_scorer(path, device, dtype=dtype) if kind == "hf" else load_proxy_scorer(path, device, dtype=dtype)
