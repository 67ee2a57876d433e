"""Fast regressions for two seam bugs found by running engines/vllm.py against real vLLM 0.32 on CPU.

1. transformers >= 5 `apply_chat_template(tokenize=True)` returns a BatchEncoding (a mapping), and
   `list()` of it gave the key names as "token ids" (vLLM then failed with a TypeError).
2. vLLM raises an empty `EngineGenerateError` *from* the real cause, so the dead-letter reason was
   just "EngineGenerateError".
"""

from __future__ import annotations

from rephraser.config import VllmConfig
from rephraser.engines import vllm as veng
from rephraser.engines.base import GenerationRequest, Sampling


class _BatchEncodingTok:
    """Shaped like transformers 5: apply_chat_template(tokenize=True) returns a dict-like BatchEncoding."""

    def apply_chat_template(self, messages, tokenize: bool, add_generation_prompt: bool):
        return {"input_ids": [1, 5, 7, 9], "attention_mask": [1, 1, 1, 1]}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [1, 2]


class _ListTok(_BatchEncodingTok):
    def apply_chat_template(self, messages, tokenize: bool, add_generation_prompt: bool):
        return [1, 5, 7]


def _render(tok) -> list[int]:
    eng = veng.VLLMEngine(VllmConfig(model="m"))
    eng._tokenizer = tok
    req = GenerationRequest(messages=({"role": "user", "content": "hi"},), sampling=Sampling())
    return eng.render_prompt(req)


def test_render_prompt_takes_input_ids_from_a_batch_encoding():
    assert _render(_BatchEncodingTok()) == [1, 5, 7, 9]
    assert _render(_ListTok()) == [1, 5, 7]


def test_one_line_reports_the_cause_of_an_empty_wrapper_error():
    class EngineGenerateError(Exception):
        pass

    try:
        try:
            raise TypeError("'<' not supported between instances of 'str' and 'int'\nmore detail")
        except TypeError as cause:
            raise EngineGenerateError() from cause
    except EngineGenerateError as e:
        line = veng._one_line(e)
    assert line == "EngineGenerateError <- TypeError: '<' not supported between instances of 'str' and 'int'"
    assert veng._one_line(ValueError("plain")) == "ValueError: plain"
    assert veng._one_line(RuntimeError()) == "RuntimeError"
