"""Inference engines behind one protocol (engines/base.py). Heavy backends are imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rephraser.config import EngineConfig
    from rephraser.engines.base import Engine


def build_engine(cfg: EngineConfig, max_in_flight: int | None = None) -> Engine:
    """Construct (not start) the engine a config names. `max_in_flight` sizes HTTP connection pools so
    every request the runner keeps in flight has its own keep-alive connection."""
    if cfg.kind == "llamacpp":
        from rephraser.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(cfg)
    if cfg.kind == "openai":
        from rephraser.engines.openai_http import OpenAIEngine

        return OpenAIEngine(cfg, max_connections=max_in_flight)
    if cfg.kind == "vllm":
        from rephraser.engines.vllm import VLLMEngine

        return VLLMEngine(cfg)
    raise ValueError(f"unknown engine kind {cfg.kind!r}")
