"""A loaded GGUF model + one multi-sequence llama.cpp context, and the text <-> token helpers.

Kept apart from the scheduler (llamacpp_decode.py) so that tokenising and prompt formatting, which run on
the caller's thread, are clearly separate from decoding, which runs on the engine's own thread.
The KV cache is split per sequence (kv_unified=False): n_ctx_total = n_ctx * parallel, so each
parallel slot gets exactly `n_ctx` tokens and one long document cannot starve the others.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from rephraser.engines import cpu_policy
from rephraser.engines.base import EngineError, FatalEngineError

CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0"}  # engine.kv_cache -> llama_cpp's ggml_type


class LoadedModel:
    def __init__(self, path: Path, n_ctx: int, parallel: int, threads: int | None, n_batch: int = 512,
                 cpu_wait: str = "bounded", kv_cache: str = "f16"):
        self.cpu = cpu_policy.choose(threads, cpu_wait)  # before llama.cpp (and libgomp) load: see cpu_policy.py
        import llama_cpp
        import llama_cpp._internals as internals
        import llama_cpp._logger as llama_logger

        llama_logger.set_verbose(False)  # llama.cpp's info logs would flood the CLI
        self.lib = llama_cpp
        mparams = internals.LlamaModel.default_params()
        mparams.n_gpu_layers = 0
        try:
            self.model = internals.LlamaModel(path_model=str(path), params=mparams, verbose=False)
        except (ValueError, OSError) as e:
            raise FatalEngineError(f"cannot load model {path}: {e}") from None
        cparams = internals.LlamaContext.default_params()
        cparams.n_ctx = n_ctx * parallel
        cparams.n_seq_max = parallel
        cparams.kv_unified = False
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        n_threads = self.cpu.threads
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        cparams.no_perf = True
        # q8_0 keys and values: llama.cpp's CPU flash attention then takes its one-chunk path for every step
        # (its split-over-threads path for one-token steps and its tiled path for many take f16/f32 caches
        # only), so a row's logits no longer depend on the thread count or the batch shape.
        cparams.type_k = cparams.type_v = getattr(llama_cpp, KV_TYPES[kv_cache])
        if kv_cache != "f16":  # a quantized V cache needs flash attention (llama.cpp's auto picks it on CPU)
            cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        try:
            self.context = internals.LlamaContext(model=self.model, params=cparams, verbose=False)
        except ValueError as e:
            self.model.close()
            raise FatalEngineError(f"cannot create a llama.cpp context (n_ctx={n_ctx} x {parallel}): {e}") from None
        self.ctx = self.context.ctx
        self.memory = self.context.memory
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.n_batch = n_batch
        self.parallel = parallel
        self.threads = n_threads
        self.ctx_per_seq = int(llama_cpp.llama_n_ctx_seq(self.ctx))
        self.bos = self.model.token_bos()
        self.add_bos = bool(self.model.add_bos_token())
        self.metadata: dict[str, str] = self.model.metadata()
        self._formatter = self._make_formatter()

    # ---- text <-> tokens (thread-safe: the vocab is read-only) -----------------------------
    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]:
        data = text.encode("utf-8", errors="replace")
        cap = len(data) + 8
        buf = (self.lib.llama_token * cap)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, cap, add_bos, special)
        if n < 0:  # cannot happen with cap > bytes, but follow the API contract
            cap = -n
            buf = (self.lib.llama_token * cap)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, cap, add_bos, special)
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def is_end(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    # ---- prompts ------------------------------------------------------------------------------
    def _make_formatter(self) -> Any:
        template = self.metadata.get(CHAT_TEMPLATE_KEY)
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self.piece(self.model.token_eos(), special=True).decode("utf-8", errors="replace")
        bos = self.piece(self.bos, special=True).decode("utf-8", errors="replace")
        return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True)

    def end_tokens(self) -> list[int]:
        """Every end-of-generation token id (EOS, EOT, <|im_end|>, ...)."""
        return [t for t in range(self.n_vocab) if self.is_end(t)]

    def prompt_tokens(self, messages: tuple[dict[str, str], ...], continuation: bool,
                      template_kwargs: dict[str, Any] | None = None) -> list[int]:
        """Chat messages -> token ids with the model's own chat template (raw text for continuation).
        `template_kwargs` are extra variables for the template (e.g. enable_thinking=False for Qwen3)."""
        if continuation:
            return self.tokenize(messages[-1]["content"], special=False, add_bos=self.add_bos)
        if self._formatter is None:
            # No template in the GGUF (some base models): a plain transcript the model can continue.
            text = "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant: "
        else:
            try:
                text = self._formatter(messages=[dict(m) for m in messages], **(template_kwargs or {})).prompt
            except Exception as e:  # jinja2 errors, e.g. a template that rejects a role order
                raise EngineError(f"chat template rejected the messages: {str(e).splitlines()[0]}") from None
        tokens = self.tokenize(text, special=True)
        if self.add_bos and (not tokens or tokens[0] != self.bos):
            tokens.insert(0, self.bos)
        return tokens

    def set_threads(self, threads: int, timed: dict[int, float]) -> None:
        """Record the thread count chosen by timing (llamacpp_stepcost.pick_threads already set it)."""
        self.threads = threads
        self.cpu = self.cpu.measured(threads, timed)

    def close_context(self) -> None:
        """Free the KV cache and compute buffers; the vocab stays so count_tokens keeps working
        (callers may hold Capabilities after stop). The model is freed when the last reference goes."""
        self.context.close()
