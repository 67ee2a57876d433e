"""OpenAIEngine: any OpenAI-compatible HTTP server (vLLM, SGLang, llama-server, hosted APIs).

One `httpx.AsyncClient` with a keep-alive pool sized to the runner's in-flight count, so hundreds
of concurrent requests reuse connections instead of paying a handshake each. Every failure is
mapped onto the engine error classes so the runner decides retry / truncate / dead-letter / stop
without knowing HTTP. The API key is read from the environment and only ever sent as a header.
Which non-standard fields are sent (top_k, repetition penalty, structured outputs, chat template
arguments, `logit_bias`) depends on the server's dialect (engines/openai_dialects.py). The entity bias
of `constrain: grounded` is sent as `logit_bias` only where the dialect takes it and `engine.tokenizer`
names the served model's tokenizer.json (the ids must be the server's; docs/engines.md).
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from rephraser.cost import study_tok_s
from rephraser.engines.base import (
    Capabilities,
    Completion,
    ContextOverflowError,
    EngineError,
    EngineSpec,
    FatalEngineError,
    GenerationRequest,
    TransientEngineError,
)
from rephraser.engines.openai_dialects import DIALECTS, Dialect, dialect_from_models
from rephraser.engines.server import ManagedServer
from rephraser.engines.steering import VocabIndex, source_bias
from rephraser.engines.tokencount import token_counter, vocabulary
from rephraser.errors import ConfigError
from rephraser.redact import register_env, scrub

if TYPE_CHECKING:
    from rephraser.config import OpenAIConfig

# Phrases servers use for "prompt does not fit" (OpenAI/vLLM, llama-server, SGLang, TGI).
_OVERFLOW = re.compile(r"context length|context window|context size|context_length|too many tokens|"
                       r"maximum (input|prompt) length|longer than the model", re.IGNORECASE)


def _transport_error(e: httpx.HTTPError, url: str, timeout_s: float) -> TransientEngineError:
    """Name what went wrong on the wire. The aiohttp transport maps every connection error to an httpx
    timeout class, so the original aiohttp exception (the cause) is checked first."""
    cause = e.__cause__
    name = type(cause).__name__ if cause is not None else ""
    detail = scrub(_one_line(str(cause or e))) or name or type(e).__name__
    if name in ("ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorCertificateError") or isinstance(
            e, httpx.ConnectError):
        return TransientEngineError(f"cannot connect to {url}: {detail or 'refused'}")
    if name in ("ServerDisconnectedError", "ClientPayloadError", "ClientOSError", "ClientResponseError") or isinstance(
            e, (httpx.RemoteProtocolError, httpx.NetworkError)):
        return TransientEngineError(f"connection to {url} broke: {detail}")
    if isinstance(e, httpx.TimeoutException):
        return TransientEngineError(f"timeout after {timeout_s:g}s from {url}")
    return TransientEngineError(f"HTTP error from {url}: {detail}")


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error_message(r: httpx.Response) -> str:
    """The server's error message from an OpenAI-style body, or the start of the raw body; a key the
    server echoes back (request headers in an error body) is scrubbed here, before anything stores it."""
    return scrub(_raw_error_message(r))


def _raw_error_message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return _one_line(r.text) or r.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return _one_line(str(err))
    return _one_line(r.text)


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: let the runner use its own backoff
        return None


def api_base(url: str) -> str:
    """Accept both "http://host:port" and "http://host:port/v1"."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


class OpenAIEngine:
    def __init__(self, cfg: OpenAIConfig, max_connections: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.cfg = cfg
        self.max_connections = max_connections or max(cfg.parallel, 64)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._server: ManagedServer | None = None
        self._caps: Capabilities | None = None
        self._headers: dict[str, str] = {}
        self.base_url = api_base(cfg.base_url) if cfg.base_url else ""
        self.dialect: Dialect = DIALECTS.get(cfg.dialect, DIALECTS["generic"])
        self._bias_vocab: tuple[VocabIndex, Any] | None = None  # set at start where logit_bias can be sent

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._client is not None:
            return
        if self.cfg.api_key_env:
            key = os.environ.get(self.cfg.api_key_env)
            if not key:
                name = self.cfg.api_key_env
                shown = name if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", name) else "(name not shown: it may be a key)"
                raise ConfigError(f"engine.api_key_env: environment variable {shown} is not set")
            register_env(self.cfg.api_key_env)  # the key never appears in a stored or printed text
            self._headers = {"Authorization": f"Bearer {key}"}
        counter = token_counter(self.cfg.tokenizer)
        bias_vocab = None
        if self.cfg.server is not None:
            self._server = ManagedServer(self.cfg.server)
            self.base_url = await self._server.start()
        n = self.max_connections
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        transport = self._transport
        if transport is None:
            # aiohttp's connection pool under httpx's API: httpcore's own pool scans every connection
            # on each request event, which made 256 in-flight requests CPU-bound (measured 7x slower).
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits)
        self._client = httpx.AsyncClient(
            limits=limits,
            timeout=httpx.Timeout(self.cfg.request_timeout_s, connect=min(30.0, self.cfg.request_timeout_s)),
            headers=self._headers, transport=transport,
        )
        if self.cfg.dialect == "auto":
            self.dialect = DIALECTS[await self._detect_dialect()]
        if self.cfg.chat_template_kwargs and not self.dialect.chat_template_kwargs:
            await self.stop()
            raise ConfigError(f"engine.chat_template_kwargs: the {self.dialect.name} dialect cannot send chat template "
                              "arguments (set engine.dialect to vllm, llama-server or sglang if the server accepts them)")
        if self.cfg.tokenizer and self.dialect.logit_bias:
            # the entity bias in the server's token ids: only with the served model's own tokenizer.json
            pieces, encode = vocabulary(self.cfg.tokenizer)
            bias_vocab = (VocabIndex(pieces), encode)
        self._bias_vocab = bias_vocab
        self._caps = Capabilities(
            model_id=self.cfg.model, engine="openai", max_context=self.cfg.n_ctx, batch_slots=self.cfg.parallel,
            steering=frozenset({"source_bias"}) if bias_vocab else frozenset(),
            count_tokens=counter.count, exact_token_counts=counter.exact,
            structure_forms=self.dialect.structure_forms, sampling_fields=self.dialect.sampling_fields,
            extra={"base_url": self.base_url, "token_counter": counter.source, "dialect": self.dialect.name},
        )

    async def _detect_dialect(self) -> str:
        """engine.dialect=auto: the owner GET /v1/models reports (generic when it cannot be told)."""
        assert self._client is not None
        try:
            r = await self._client.get(self.base_url + "/v1/models", timeout=min(30.0, self.cfg.request_timeout_s))
            return dialect_from_models(r.json()) if r.status_code == 200 else "generic"
        except (httpx.HTTPError, ValueError):
            return "generic"

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    @property
    def capabilities(self) -> Capabilities:
        if self._caps is None:
            raise FatalEngineError("engine not started")
        return self._caps

    # ---- requests ---------------------------------------------------------------------------
    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The request body in the server's dialect: fields it does not understand are not sent."""
        body: dict[str, Any] = {"model": self.cfg.model, **self.dialect.sampling_body(request.sampling)}
        if request.structure is not None:
            try:
                body.update(self.dialect.structure_body(request.structure))
            except ValueError as e:
                raise FatalEngineError(str(e)) from None
        if request.bias_source and self._bias_vocab is not None:
            index, encode = self._bias_vocab
            dense = source_bias(index, request.bias_source, encode)
            body["logit_bias"] = {str(int(i)): float(dense[i]) for i in np.flatnonzero(dense)}
        if request.continuation:
            body["prompt"] = request.messages[-1]["content"]
            return "/v1/completions", body
        if self.cfg.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(self.cfg.chat_template_kwargs)
        body["messages"] = [dict(m) for m in request.messages]
        return "/v1/chat/completions", body

    async def generate(self, request: GenerationRequest) -> Completion:
        if self._client is None:
            raise FatalEngineError("engine not started")
        if self._server is not None:
            await self._server.wait_ready()  # during a restart: wait rather than fail every request
        path, body = self._body(request)
        url = self.base_url + path
        try:
            r = await self._client.post(url, json=body)
        except httpx.HTTPError as e:
            raise _transport_error(e, url, self.cfg.request_timeout_s) from None
        if r.status_code != 200:
            self._raise_for_status(r, url)
        return self._parse(r, request.continuation)

    def _raise_for_status(self, r: httpx.Response, url: str) -> None:
        code, msg = r.status_code, _error_message(r)
        what = f"HTTP {code} from {url}: {msg}"
        if code == 429 or code >= 500 or code == 408:
            raise TransientEngineError(what, retry_after=_retry_after(r))
        if code in (400, 413, 422) and _OVERFLOW.search(msg):
            raise ContextOverflowError(what)
        if code in (401, 403, 404):
            raise FatalEngineError(f"{what} (check engine.base_url, engine.model and the API key)")
        raise EngineError(what)

    def _parse(self, r: httpx.Response, continuation: bool) -> Completion:
        try:
            data = json.loads(r.content)
        except ValueError:
            raise TransientEngineError(f"malformed JSON response ({len(r.content)} bytes)") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise TransientEngineError("response has no choices")
        choice = choices[0]
        if continuation:
            text = choice.get("text")
        else:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise TransientEngineError("response choice has no text content")
        finish = choice.get("finish_reason") or "stop"
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        count = self.capabilities.count_tokens
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Completion(
            text=scrub(text, headers=False), finish_reason=str(finish),
            prompt_tokens=int(prompt_tokens) if isinstance(prompt_tokens, int) else 0,
            completion_tokens=int(completion_tokens) if isinstance(completion_tokens, int) else count(text),
        )


SPEC = EngineSpec(
    kind="openai",
    summary="any OpenAI-compatible server (vLLM, SGLang, llama-server, TGI) at engine.base_url or engine.server",
    device="server",
    # The server's own batch is unknown from here: assume it keeps up with every request in flight.
    assumed_tok_s=study_tok_s,
    build=lambda cfg, max_in_flight: OpenAIEngine(cfg, max_connections=max_in_flight),
)
