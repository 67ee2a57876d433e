"""Export a proxy checkpoint as a standard transformers folder (LlamaForCausalLM).

Why Llama and not Qwen2: the proxy (train/model.py) has no biases anywhere, and transformers'
Qwen2 attention always carries q/k/v biases; Llama has `attention_bias=False, mlp_bias=False` and
otherwise the same semantics as ours: RMSNorm (fp32 variance, weight after the cast back), rotate-half
RoPE over the full head dimension with `rope_theta`, grouped-query attention where kv head j serves
query heads j*r..(j+1)*r-1, SwiGLU MLP, tied or untied output embeddings, no attention scaling beyond
1/sqrt(head_dim). The study converted its nanotron checkpoints to the same class for lighteval.

One semantic gap is reported, not hidden: a checkpoint trained with document masking blocks attention
across EOS tokens, which a plain transformers forward does not. Scores agree on any window without an
EOS inside it (every benchmark item), and differ where a window holds one (a leading EOS used as the
context of an empty-context request, long bits-per-byte documents).

The tokenizer is written so that the transformers default (`add_special_tokens=True`) encodes text
exactly as training did (`add_special_tokens=False`): a post-processor that would add BOS/EOS is
dropped, and both BOS and EOS name the document separator, the token every document follows in the
packed training stream. The folder is assembled next to OUT and renamed into place, so OUT is either
absent or complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_dir, atomic_write_json
from rephraser.errors import RephraserError
from rephraser.mix.tokenize import eos_id

# proxy state_dict name -> transformers LlamaForCausalLM name ("{i}" = layer index)
_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.o_proj.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.gate_proj.weight": "mlp.gate_proj.weight",
    "mlp.up_proj.weight": "mlp.up_proj.weight",
    "mlp.down_proj.weight": "mlp.down_proj.weight",
}


def hf_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """Rename proxy weights to LlamaForCausalLM's; every tensor must be used exactly once."""
    out: dict[str, Any] = {}
    for name, tensor in state.items():
        if name == "embed.weight":
            out["model.embed_tokens.weight"] = tensor
        elif name == "norm.weight":
            out["model.norm.weight"] = tensor
        elif name == "lm_head.weight":
            out["lm_head.weight"] = tensor
        elif name.startswith("layers."):
            _, index, rest = name.split(".", 2)
            if rest not in _LAYER_NAMES:
                raise RephraserError(f"cannot export weight {name!r}: no transformers counterpart")
            out[f"model.layers.{index}.{_LAYER_NAMES[rest]}"] = tensor
        else:
            raise RephraserError(f"cannot export weight {name!r}: no transformers counterpart")
    return out


def llama_config(cfg: Any, eos: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads,
        head_dim=cfg.head_dim, hidden_act="silu", max_position_embeddings=cfg.max_seq_len,
        rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_embeddings,
        attention_bias=False, mlp_bias=False, initializer_range=cfg.init_std,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, torch_dtype="float32",
    )


def _training_tokenizer(tokenizer: Any) -> tuple[Any, bool]:
    """A copy of the tokenizer without a special-token post-processor; True when one was dropped."""
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.to_str())
    dropped = data.get("post_processor") is not None
    data["post_processor"] = None
    return Tokenizer.from_str(json.dumps(data)), dropped


def _portable_files(folder: Path) -> None:
    """Also name things the way transformers 4.x readers (lighteval, lm-eval pins) expect."""
    cfg_path, tok_path = folder / "config.json", folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in rope:
        cfg.setdefault("rope_theta", rope["rope_theta"])
    cfg.setdefault("torch_dtype", cfg.get("dtype", "float32"))
    atomic_write_json(cfg_path, cfg, sort_keys=True)
    tok = json.loads(tok_path.read_text(encoding="utf-8"))
    tok["tokenizer_class"] = "PreTrainedTokenizerFast"  # understood by transformers 4 and 5
    atomic_write_json(tok_path, tok, sort_keys=True)


def export_hf(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """Write a LlamaForCausalLM folder for `checkpoint` at `out`; returns a summary dict."""
    try:
        from transformers import LlamaForCausalLM, PreTrainedTokenizerFast
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        raise RephraserError("export-hf needs transformers: pip install 'rephraser[hf]'") from e
    hf_logging.disable_progress_bar()
    from rephraser.train.model import load_checkpoint

    dest = Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise RephraserError(f"{dest} already exists and is not empty; choose a new output folder")
    model, tokenizer, cfg = load_checkpoint(checkpoint)
    eos = cfg.eos_id if cfg.eos_id is not None else eos_id(tokenizer)
    eos_text = tokenizer.id_to_token(eos)
    hf_model = LlamaForCausalLM(llama_config(cfg, eos))
    state = hf_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()})
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    # With tied embeddings transformers re-ties lm_head to embed_tokens, so it may be listed as missing.
    missing = [m for m in missing if not (cfg.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise RephraserError(f"weights do not fit LlamaForCausalLM (missing {missing}, unexpected {unexpected})")
    hf_tok_object, dropped = _training_tokenizer(tokenizer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=hf_tok_object, bos_token=eos_text, eos_token=eos_text, pad_token=eos_text,
        model_max_length=cfg.max_seq_len, clean_up_tokenization_spaces=False,
    )
    with atomic_dir(dest) as tmp:  # replaces the (empty) dest whole
        hf_model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)
        _portable_files(tmp)
        summary = {
            "source": str(checkpoint), "architecture": "LlamaForCausalLM", "parameters": model.num_parameters(),
            "eos_token": eos_text, "eos_id": eos, "bos_token": eos_text,
            "dropped_tokenizer_post_processor": dropped,
            "document_masking": cfg.document_masking,
        }
        atomic_write_json(tmp / "rephraser_export.json", summary)
    return {**summary, "output": str(dest)}
