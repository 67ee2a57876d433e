"""A fake OpenAI-compatible server for tests and benchmarks (stdlib only, no model).

Run: `python tests/fakes/openai_server.py --port 0 [options]`. It prints exactly one line
`PORT <n>` (flushed) once listening on 127.0.0.1, then serves until killed.

Replies are a deterministic function of the request, so runs are reproducible and output-token
projections can be checked: "Q: What is this about?\nA: " + the document part of the last user
message (text after the last "Document:" line, else the whole message) with whitespace normalised
(or reversed/uppercased with --transform), cut to max_tokens whitespace "tokens".

Faults are injected deterministically: request number k (1-based, in arrival order) faults when a
hash of (--seed, k) falls below --fault-rate; the kinds in --faults are used in turn. A request
may also force a kind with the header `X-Fake-Fault: <kind>` (handy for one-off tests), and
`POST /control {"delay_ms": N, "fail_all": bool}` changes the latency or the failing mode mid-run (a
lowered delay also releases the requests waiting out a long one).

`--dialect vllm|llama-server|sglang|openai` makes it report that owner in GET /v1/models and, with
`--strict-fields`, answer HTTP 400 to any body field that server family does not understand (as
OpenAI's API does), so clients are checked to send only what the server supports. GET /requests
returns the last 100 generation request bodies as received.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_KINDS = ("500", "429", "hang", "close", "garbage", "truncated")
STANDARD_FIELDS = {"model", "messages", "prompt", "temperature", "top_p", "max_tokens", "seed", "stream", "n", "stop"}
# Body fields each server family accepts beyond the standard ones, and the owner its /v1/models reports.
DIALECT_FIELDS = {
    "vllm": {"top_k", "repetition_penalty", "structured_outputs", "chat_template_kwargs", "logit_bias"},
    "llama-server": {"top_k", "repeat_penalty", "grammar", "json_schema", "chat_template_kwargs", "logit_bias"},
    "sglang": {"top_k", "repetition_penalty", "regex", "ebnf", "response_format", "chat_template_kwargs"},
    "openai": {"response_format"},
}
OWNERS = {"vllm": "vllm", "llama-server": "llamacpp", "sglang": "sglang", "openai": "openai"}
QUESTION = "Q: What is this about?\nA: "
_TOKEN = re.compile(r"\S+\s*")


# ---- deterministic reply -----------------------------------------------------------------------
def document_part(text: str) -> str:
    """Text after the last line starting with "Document:" (rest of that line included), else all."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().startswith("Document:"):
            head = lines[i].strip()[len("Document:") :]
            return "\n".join([head, *lines[i + 1 :]]).strip()
    return text.strip()


def transform(text: str, how: str) -> str:
    words = text.split()
    if how == "reverse":
        words = words[::-1]
    elif how == "upper":
        words = [w.upper() for w in words]
    return " ".join(words)


def count_words(text: str) -> int:
    return len(text.split())


def cut_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the first `max_tokens` whitespace tokens; True when something was cut."""
    pieces = _TOKEN.findall(text)
    if len(pieces) <= max_tokens:
        return text, False
    return "".join(pieces[:max_tokens]).rstrip(), True


def make_reply(prompt_text: str, max_tokens: int, how: str) -> tuple[str, str]:
    full = QUESTION + transform(document_part(prompt_text), how)
    text, cut = cut_to_tokens(full, max(0, max_tokens))
    return text, ("length" if cut else "stop")


# ---- server state --------------------------------------------------------------------------------

def wait(args) -> None:
    """The added latency. A long one (a test holding a run open) is waited in slices against the current
    setting, so POST /control {"delay_ms": 0} also releases the requests already waiting; a short one is
    one sleep (benchmarks run hundreds of requests in flight)."""
    start = time.monotonic()
    while (left := args.delay_ms / 1000 - (time.monotonic() - start)) > 0:
        time.sleep(left if args.delay_ms < 1000 else min(left, 0.1))

class State:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.faults: dict[str, int] = {}
        self.kinds = [k for k in args.faults.split(",") if k] if args.faults else list(FAULT_KINDS)
        bad = [k for k in self.kinds if k not in FAULT_KINDS]
        if bad:
            raise SystemExit(f"unknown fault kind(s) {bad}; choose from {','.join(FAULT_KINDS)}")
        self.fault_count = 0
        self.bodies: list[dict[str, Any]] = []

    def next_request(self, forced: str | None) -> str | None:
        """Count a generation request and decide its fault kind (None = answer normally)."""
        with self.lock:
            self.requests += 1
            k = self.requests
            kind: str | None = None
            if forced:
                kind = forced
            elif self.args.fail_all:
                kind = "500"
            elif self.args.fault_rate > 0:
                h = hashlib.sha256(f"{self.args.seed}:{k}".encode()).digest()
                if int.from_bytes(h[:8], "big") / 2**64 < self.args.fault_rate:
                    kind = self.kinds[self.fault_count % len(self.kinds)]
                    self.fault_count += 1
            return kind

    def count(self, fault: str | None) -> None:
        with self.lock:
            if fault is None:
                self.ok += 1
            else:
                self.faults[fault] = self.faults.get(fault, 0) + 1

    def record(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.bodies = [*self.bodies[-99:], body]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "ok": self.ok, "faults": dict(self.faults)}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients connect at once
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: State):
        super().__init__(addr, Handler)
        self.state = state


# ---- request handling ----------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK stall every
    # keep-alive response by ~40 ms on loopback (real servers such as uvicorn set it too).
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(obj).encode(), headers)

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                   ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status: int, message: str, etype: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        err = {"message": message, "type": etype, "param": None, "code": code}
        self.send_json(status, {"error": err}, headers)

    def do_GET(self) -> None:
        args = self.server.state.args
        if self.path == "/health":
            self.send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            owner = OWNERS.get(args.dialect, "fake")
            self.send_json(200, {"object": "list", "data": [{"id": args.model, "object": "model", "owned_by": owner}]})
        elif self.path == "/stats":
            self.send_json(200, self.server.state.snapshot())
        elif self.path == "/requests":
            with self.server.state.lock:
                self.send_json(200, list(self.server.state.bodies))
        else:
            self.error(404, f"no route GET {self.path}", "not_found_error")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/control":  # tests change behaviour mid-run: {"delay_ms": 0, "fail_all": false}
            changes = json.loads(raw or b"{}")
            for key in ("delay_ms", "fail_all"):
                if key in changes:
                    setattr(self.server.state.args, key, changes[key])
            self.send_json(200, {"delay_ms": self.server.state.args.delay_ms, "fail_all": self.server.state.args.fail_all})
            return
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            self.error(404, f"no route POST {self.path}", "not_found_error")
            return
        state = self.server.state
        args = state.args
        if args.api_key and self.headers.get("Authorization") != f"Bearer {args.api_key}":
            self.error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return
        if args.echo_headers == "fail":  # a careless server: the request headers, key included, in its error body
            seen = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
            self.error(500, f"internal error while handling request with headers {seen}", "server_error")
            return
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            chat = self.path == "/v1/chat/completions"
            prompt_text, all_text = self.prompt_of(body, chat)
        except (ValueError, TypeError, KeyError) as e:
            self.error(400, f"invalid request: {e}", "invalid_request_error")
            return
        state.record(body)
        if args.strict_fields:
            unknown = sorted(set(body) - STANDARD_FIELDS - DIALECT_FIELDS.get(args.dialect, set()))
            if unknown:
                self.error(400, f"Unrecognized request argument supplied: {', '.join(unknown)}", "invalid_request_error")
                return
        if args.strict_model and body.get("model") != args.model:
            self.error(404, f"The model `{body.get('model')}` does not exist.", "invalid_request_error", "model_not_found")
            return
        forced = self.headers.get("X-Fake-Fault")
        fault = state.next_request(forced if forced in FAULT_KINDS else None)
        if args.delay_ms:
            wait(args)
        if args.context_chars is not None and len(all_text) > args.context_chars:
            state.count("context")
            self.error(400, f"This model's maximum context length is {args.context_chars} characters; "
                       f"the request has {len(all_text)}.", "invalid_request_error", "context_length_exceeded")
            return
        if fault not in (None, "hang"):
            state.count(fault)
            self.fault(fault, self.answer(body, chat, prompt_text, all_text))
            return
        if fault == "hang":
            time.sleep(args.hang_seconds)
        state.count(fault)
        self.send_json(200, self.answer(body, chat, prompt_text, all_text))

    @staticmethod
    def prompt_of(body: dict[str, Any], chat: bool) -> tuple[str, str]:
        """(text the reply is made from, all prompt text) of a request."""
        if chat:
            msgs = body["messages"]
            if not isinstance(msgs, list) or not msgs:
                raise ValueError("messages must be a non-empty list")
            contents = [str(m.get("content", "")) for m in msgs]
            users = [str(m.get("content", "")) for m in msgs if m.get("role") == "user"]
            return (users[-1] if users else contents[-1]), "\n".join(contents)
        prompt = body["prompt"]
        if isinstance(prompt, list):
            prompt = "".join(str(p) for p in prompt)
        return str(prompt), str(prompt)

    def answer(self, body: dict[str, Any], chat: bool, prompt_text: str, all_text: str) -> dict[str, Any]:
        args = self.server.state.args
        max_tokens = int(body.get("max_tokens") or args.default_max_tokens)
        text, finish = make_reply(prompt_text, max_tokens, args.transform)
        if args.bloat_bytes:  # an engine that ignores max_tokens: one endless "word" after the reply
            text += " " + "x" * args.bloat_bytes
        if args.echo_headers == "reply":
            text += f" (key seen: {(self.headers.get('Authorization') or '').removeprefix('Bearer ')})"
        rid = hashlib.sha256(all_text.encode()).hexdigest()[:12]
        usage = {"prompt_tokens": count_words(all_text), "completion_tokens": count_words(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            obj = "text_completion"
        return {"id": f"fake-{rid}", "object": obj, "created": int(time.time()), "model": args.model,
                "choices": [choice], "usage": usage}

    def fault(self, kind: str, good: dict[str, Any]) -> None:
        if kind == "500":
            self.error(500, "injected internal error", "server_error")
        elif kind == "429":
            self.error(429, "Rate limit reached (injected).", "rate_limit_error", "rate_limit_exceeded",
                       headers={"Retry-After": "0"})
        elif kind == "garbage":
            self.send_bytes(200, b"<html>upstream proxy says hello</html> this is not JSON", ctype="text/html")
        elif kind == "truncated":
            full = json.dumps(good).encode()
            self.send_bytes(200, full[: len(full) // 2])
        elif kind == "close":
            # Promise the whole body, send half of it, then drop the connection.
            full = json.dumps(good).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--model", default="fake-model", help="served model id")
    p.add_argument("--delay-ms", type=float, default=0.0, help="added latency per generation request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests that fault")
    p.add_argument("--faults", default=",".join(FAULT_KINDS), help="fault kinds used in turn")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault choice")
    p.add_argument("--fail-all", action="store_true", help="every generation request gets HTTP 500")
    p.add_argument("--hang-seconds", type=float, default=30.0)
    p.add_argument("--context-chars", type=int, default=None, help="prompts longer than this get HTTP 400")
    p.add_argument("--transform", choices=("echo", "reverse", "upper"), default="echo")
    p.add_argument("--default-max-tokens", type=int, default=512)
    p.add_argument("--api-key", default=None, help="require `Authorization: Bearer KEY` (else 401)")
    p.add_argument("--echo-headers", choices=("off", "fail", "reply"), default="off",
                   help="fail: HTTP 500 whose body repeats the request headers; reply: the bearer key appended to replies")
    p.add_argument("--bloat-bytes", type=int, default=0, help="append this many bytes to every reply (max_tokens ignored)")
    p.add_argument("--strict-model", action="store_true", help="unknown model in a request => 404")
    p.add_argument("--dialect", choices=("generic", *DIALECT_FIELDS), default="generic",
                   help="server family to imitate: its /v1/models owner and, with --strict-fields, its body fields")
    p.add_argument("--strict-fields", action="store_true", help="HTTP 400 for body fields the dialect does not know")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = Server((args.host, args.port), State(args))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
