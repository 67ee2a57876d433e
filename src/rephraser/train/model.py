"""The proxy model: a small Llama/Qwen2-style decoder trained to measure a data mixture, as in the study.

RMSNorm, rotary position embeddings, grouped-query attention, SwiGLU MLP, tied input/output
embeddings, causal attention through `F.scaled_dot_product_attention` (flash/efficient kernels on
GPU). Documents are separated by EOS tokens in the packed stream; optional document masking stops
attention across that boundary. Presets are data: add a dict entry, not a class.

Checkpoint format (a folder; the evaluator relies on it):
    config.json     ProxyConfig as JSON
    model.pt        state_dict (tensors only; loads with weights_only=True)
    tokenizer.json  the `tokenizers` tokenizer the model was trained with
A training run's resumable checkpoints (checkpoints/step-N/) hold `dcp/` (torch.distributed.checkpoint)
instead of model.pt; `load_checkpoint` opens both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from rephraser.atomic import atomic_write, atomic_write_bytes, atomic_write_json
from rephraser.errors import ConfigError, RephraserError


class ProxyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(4096, ge=2)
    hidden_size: int = Field(128, ge=8)
    n_layers: int = Field(4, ge=1)
    n_heads: int = Field(4, ge=1)
    n_kv_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(384, ge=1)
    max_seq_len: int = Field(256, ge=8)
    rope_theta: float = Field(10_000.0, gt=0)
    norm_eps: float = Field(1e-6, gt=0)
    tie_embeddings: bool = True
    document_masking: bool = Field(False, description="block attention across EOS-separated documents")
    eos_id: int | None = Field(None, ge=0, description="needed by document masking")
    init_std: float = Field(0.02, gt=0)

    @model_validator(mode="after")
    def _heads_fit(self) -> ProxyConfig:
        if self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not divisible by n_kv_heads {self.n_kv_heads}")
        if (self.hidden_size // self.n_heads) % 2:
            raise ValueError("head dimension must be even for rotary embeddings")
        return self

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads


# Architecture presets. vocab_size is replaced by the tokenizer's size at training time, so a preset's
# parameter count depends on the tokenizer: "1.7b" is 1.67B with the study's Llama-3.2 tokenizer
# (128,256 tokens) and 1.42B with a 4,096-token BPE. "1.7b" is the study's proxy: 28 layers, hidden
# 2048, GQA 16/8 heads, MLP 6144, tied embeddings, RoPE theta 10,000, RMSNorm eps 1e-6, attention
# kept inside each document (document masking; the EOS id comes from the tokenized data).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny-1m": dict(hidden_size=128, n_layers=3, n_heads=4, n_kv_heads=2, intermediate_size=320, max_seq_len=256),
    "mini-8m": dict(hidden_size=256, n_layers=6, n_heads=8, n_kv_heads=4, intermediate_size=768, max_seq_len=512),
    "small-30m": dict(hidden_size=512, n_layers=8, n_heads=8, n_kv_heads=4, intermediate_size=1536, max_seq_len=1024),
    "base-150m": dict(hidden_size=768, n_layers=16, n_heads=12, n_kv_heads=4, intermediate_size=2304, max_seq_len=2048),
    "500m": dict(hidden_size=1024, n_layers=24, n_heads=16, n_kv_heads=8, intermediate_size=4096, max_seq_len=2048),
    "1.7b": dict(
        hidden_size=2048, n_layers=28, n_heads=16, n_kv_heads=8, intermediate_size=6144, max_seq_len=4096,
        rope_theta=10_000.0, norm_eps=1e-6, tie_embeddings=True, document_masking=True,
    ),
}


def preset_config(name: str, **overrides: Any) -> ProxyConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ProxyConfig(**{**PRESETS[name], **overrides})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 so bf16 autocast does not lose the variance's precision.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [B, H, T, D]; rotate-half convention (pairs are (i, i + D/2)) as in Llama/Qwen2.
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos = torch.cat((cos, cos), dim=-1).to(x.dtype)
    sin = torch.cat((sin, sin), dim=-1).to(x.dtype)
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: ProxyConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv, self.hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.n_heads * self.hd, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.n_kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.n_kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * self.hd, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.n_kv != self.n_heads:  # GQA: each kv head serves n_heads / n_kv query heads
            rep = self.n_heads // self.n_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        projected: torch.Tensor = self.o_proj(out.transpose(1, 2).reshape(b, t, -1))
        return projected


class SwiGLU(nn.Module):
    def __init__(self, cfg: ProxyConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return out


class Block(nn.Module):
    def __init__(self, cfg: ProxyConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        out: torch.Tensor = x + self.mlp(self.mlp_norm(x))
        return out


class ProxyModel(nn.Module):
    rope_cos: torch.Tensor  # buffers (register_buffer below), typed for readers
    rope_sin: torch.Tensor

    def __init__(self, cfg: ProxyConfig) -> None:
        super().__init__()
        if cfg.document_masking and cfg.eos_id is None:
            raise ConfigError("document_masking needs eos_id (training fills it in from the tokenized data)")
        self.cfg = cfg
        # Recompute each block's activations in backward instead of storing them (memory for compute).
        self.activation_checkpointing = False
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        # Not persistent: derived from the config, so checkpoints hold learned weights only.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = self.cfg.init_std
        # Scale residual-output projections down with depth so the residual stream's variance stays put.
        out_std = std / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            nn.init.normal_(p, 0.0, out_std if name.endswith(("o_proj.weight", "down_proj.weight")) else std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _doc_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Token i belongs to the document opened after the last EOS strictly before i, so the EOS
        # itself still closes its own document (it is predicted from that document's tokens).
        assert self.cfg.eos_id is not None  # __init__ refuses document_masking without it
        is_eos = input_ids.eq(self.cfg.eos_id).long()
        doc = torch.cumsum(is_eos, dim=1) - is_eos
        t = input_ids.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=input_ids.device).tril()
        same = doc[:, :, None] == doc[:, None, :]
        return (same & causal)[:, None, :, :]

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids LongTensor[B, T] -> logits FloatTensor[B, T, V]."""
        t = input_ids.shape[1]
        if t > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {t} exceeds max_seq_len {self.cfg.max_seq_len}")
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        mask = self._doc_mask(input_ids) if self.cfg.document_masking else None
        x = self.embed(input_ids)
        for layer in self.layers:
            if self.activation_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask)
        x = self.norm(x)
        weight = self.embed.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(x, weight).float()


def save_checkpoint(model: ProxyModel | dict[str, torch.Tensor], cfg: ProxyConfig, tokenizer_path: str | Path,
                    out_dir: str | Path) -> Path:
    """Write config.json + model.pt + tokenizer.json into out_dir (atomically per file). `model` may be
    the model or its state_dict (what a sharded run gathers on rank 0)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", cfg.model_dump())
    weights = model if isinstance(model, dict) else _unwrap(model).state_dict()
    state = {k: v.detach().to("cpu").clone() for k, v in weights.items()}
    atomic_write(out / "model.pt", lambda f: torch.save(state, f))
    src = Path(tokenizer_path)
    if src.resolve() != (out / "tokenizer.json").resolve():
        atomic_write_bytes(out / "tokenizer.json", src.read_bytes())
    return out


def check_vocab(tokenizer_size: int, model_size: int, where: Path | str, exact: bool = True) -> None:
    """A tokenizer that does not fit its model fails in one line, before any weights load: a larger one would
    index past the embedding (IndexError), a smaller one of a proxy means another tokenizer than it trained
    with (scores without meaning). exact=False (HF models, whose embeddings are often padded) allows smaller."""
    if tokenizer_size > model_size or (exact and tokenizer_size != model_size):
        raise RephraserError(f"{where}: the tokenizer has {tokenizer_size:,} tokens but the model's vocabulary has "
                             f"{model_size:,}: this tokenizer is not the one the model was trained with")


def load_checkpoint(dir: str | Path, device: str = "cpu") -> tuple[ProxyModel, Any, ProxyConfig]:
    """Load a checkpoint folder -> (model in eval mode on `device`, tokenizers.Tokenizer, ProxyConfig)."""
    from tokenizers import Tokenizer

    d = Path(dir)
    sharded = not (d / "model.pt").is_file() and (d / "dcp" / ".metadata").is_file()
    needed = ("config.json", "tokenizer.json") if sharded else ("config.json", "model.pt", "tokenizer.json")
    missing = [n for n in needed if not (d / n).is_file()]
    if missing:
        raise RephraserError(f"{d} is not a proxy checkpoint (missing {', '.join(missing)})")
    try:
        cfg = ProxyConfig.model_validate_json((d / "config.json").read_text(encoding="utf-8"))
    except ValueError as e:
        raise RephraserError(f"{d / 'config.json'}: invalid proxy config: {str(e).splitlines()[0]}") from None
    tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
    check_vocab(tokenizer.get_vocab_size(with_added_tokens=True), cfg.vocab_size, d)
    model = ProxyModel(cfg)
    try:
        if sharded:
            from rephraser.train.train_state import load_weights

            load_weights(d, model)
        else:
            model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
    except RuntimeError as e:
        raise RephraserError(f"{d / ('dcp' if sharded else 'model.pt')} does not match config.json: {str(e).splitlines()[0]}") from None
    return model.to(device).eval(), tokenizer, cfg


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)  # torch.compile wraps the module
