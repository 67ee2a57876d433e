"""Inference engines behind one protocol (engines/base.py).

Each engine module exports `SPEC` (an EngineSpec: its static facts and how to build it). The registry
below names the module of every `engine.kind`; a module is imported only when its engine is asked for,
so heavy backends (llama.cpp, vLLM) load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rephraser.config import EngineConfig
    from rephraser.engines.base import Engine, EngineSpec

# engine.kind -> the module implementing it (keep in step with config.ENGINE_CLASSES: one config class per kind).
ENGINE_MODULES = {
    "llamacpp": "rephraser.engines.llamacpp",
    "openai": "rephraser.engines.openai_http",
    "vllm": "rephraser.engines.vllm",
}


def engine_spec(kind: str) -> EngineSpec:
    if kind not in ENGINE_MODULES:
        raise ValueError(f"unknown engine kind {kind!r}; known: {', '.join(ENGINE_MODULES)}")
    return importlib.import_module(ENGINE_MODULES[kind]).SPEC


def build_engine(cfg: EngineConfig, max_in_flight: int | None = None) -> Engine:
    """Construct (not start) the engine a config names. `max_in_flight` sizes HTTP connection pools so
    every request the runner keeps in flight has its own keep-alive connection."""
    return engine_spec(cfg.kind).build(cfg, max_in_flight)
