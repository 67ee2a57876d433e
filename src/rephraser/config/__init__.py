"""The run configuration (`RunConfig`) and the one YAML loader: every config this project reads.

- sections.py: source, sampling, rollout, retries, post-processing, output
- engine.py: one class per engine kind (llamacpp, openai, vllm), each field marked by what it changes
- speculation.py: vLLM's speculative decoding as typed fields
- marks.py: OUTPUT / SPEED marks, and the fingerprint part they derive
- run.py: RunConfig, its outcome fields and fingerprint
- legacy.py: keys older files hold (the flat engine section, postprocess.constrain), still read
- loading.py: YAML -> validated model, every error as one line
"""

from rephraser.config.engine import (
    ENGINE_CLASSES,
    KINDS,
    EngineBase,
    EngineConfig,
    LlamaCppConfig,
    OpenAIConfig,
    ServerConfig,
    VllmConfig,
    engine_config,
)
from rephraser.config.loading import (
    load_yaml,
    one_line_error,
    read_yaml_document,
    read_yaml_mapping,
    validate,
)
from rephraser.config.run import RunConfig
from rephraser.config.sections import (
    ENV_VAR_NAME,
    SAMPLING_PRESETS,
    Constrain,
    FloorThresholds,
    OutputConfig,
    PostprocessConfig,
    RetryConfig,
    RolloutConfig,
    SamplingConfig,
    SourceConfig,
    Strict,
)
from rephraser.config.speculation import VllmSpeculation
from rephraser.errors import ConfigError  # raised by the loader; importable from here as before

__all__ = [
    "ENGINE_CLASSES", "ENV_VAR_NAME", "ConfigError", "KINDS", "SAMPLING_PRESETS", "Constrain", "EngineBase", "EngineConfig",
    "FloorThresholds", "LlamaCppConfig", "OpenAIConfig", "OutputConfig", "PostprocessConfig", "RetryConfig",
    "RolloutConfig", "RunConfig", "SamplingConfig", "ServerConfig", "SourceConfig", "Strict", "VllmConfig",
    "VllmSpeculation", "engine_config", "load_yaml", "one_line_error", "read_yaml_document", "read_yaml_mapping",
    "validate",
]
