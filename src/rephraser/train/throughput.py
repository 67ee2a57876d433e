"""Training FLOPs per token and model FLOPs utilisation (MFU).

FLOPs per trained token = 6·N (forward + backward through every weight matrix; with tied embeddings
the input table is the output projection, so N counts it once; an untied input table is a lookup and
is left out) + 12·layers·hidden·seq_len (attention scores and their weighted sum, forward + backward,
the full square as in the PaLM paper's MFU definition). MFU = achieved FLOP/s per device / the
device's peak dense bf16 FLOP/s.
"""

from __future__ import annotations

from typing import Any

# Dense bf16 peaks from the vendors' data sheets (no sparsity), FLOP/s.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12,
             "L40S": 362e12, "B200": 2250e12, "GH200": 989e12}


def flops_per_token(n_parameters: int, cfg: Any, seq_len: int) -> float:
    """cfg: a ProxyConfig."""
    matrices = n_parameters - (0 if cfg.tie_embeddings else cfg.vocab_size * cfg.hidden_size)
    return float(6.0 * matrices + 12.0 * cfg.n_layers * cfg.hidden_size * seq_len)


def peak_flops(device: str, override_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device: the override, else looked up for known GPUs; None on CPU."""
    if override_tflops:
        return override_tflops * 1e12
    if not device.startswith("cuda"):
        return None
    import torch

    name = torch.cuda.get_device_name(torch.device(device))
    for key in sorted(PEAK_BF16, key=len, reverse=True):  # "GH200" before "H200"
        if key in name:
            return PEAK_BF16[key]
    return None


def mfu(tokens_per_s_per_device: float, flops_token: float, peak: float | None) -> float | None:
    return None if not peak else round(tokens_per_s_per_device * flops_token / peak, 4)
