"""An OpenAI-compatible chat-completions server on loopback, scripted per request, for the LLM pipeline tests.

``StubServer(script)`` serves ``POST /v1/chat/completions`` in threads. ``script(body, n)`` gets the request JSON
and the server-wide request number and returns a behaviour:

- ``("ok", text)`` / ``("length", text)``: a normal answer (finish_reason "stop" / "length")
- ``("429", seconds)``: rate limited with ``Retry-After``
- ``("status", code)``: an error answer with that status code
- ``("500", None)``: server error; ``("400", message)``: a client error with that message
- ``("slow", seconds)``: sleep, then answer (longer than the client's timeout makes it a timeout)
- ``("malformed", None)``: status 200 with a body that is not JSON
- ``("cut", None)``: status 200 whose body stops half-way (Content-Length promises more)
- ``("hang", None)``: never answer (until the server stops)
- ``("logprobs", [(token, [(alternative, logprob), ...]), ...])``: the tokens as the answer, each with its top
  logprobs in ``choices[0].logprobs.content`` (only when the request asked for ``logprobs``, as real servers do)

``ScriptByItem`` scripts by a marker ``ITEM:<key>`` in the last message: a list of behaviours per key consumed one
per request, then ``ok``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = tuple[str, Any]


def last_text(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    return str(msgs[-1].get("content", "")) if msgs else ""


class ScriptByItem:
    def __init__(self, plan: dict[str, list[Behaviour]], answer: Callable[[str, dict], str] | None = None):
        self.plan = {k: list(v) for k, v in plan.items()}
        self.answer = answer or (lambda key, body: f"The answer for {key}.")
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any], n: int) -> Behaviour:
        m = re.search(r"ITEM:(\S+)", last_text(body))
        key = m.group(1) if m else "?"
        with self.lock:
            steps = self.plan.get(key)
            step = steps.pop(0) if steps else ("ok", None)
        if step[0] in ("ok", "length") and step[1] is None:
            return (step[0], self.answer(key, body))
        return step


class StubServer:
    def __init__(self, script: Callable[[dict[str, Any], int], Behaviour]):
        self.script = script
        self.requests: list[dict[str, Any]] = []  # {"n", "body", "auth", "behaviour"}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    n = len(server.requests)
                    entry = {"n": n, "body": body, "auth": self.headers.get("Authorization"), "t": time.monotonic()}
                    server.requests.append(entry)
                kind, arg = server.script(body, n)
                entry["behaviour"] = kind
                # the client gave up (timeout): that is the point of the slow behaviours
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.respond(body, kind, arg)

            def send(
                self, status: int, data: bytes, headers: dict[str, str] | None = None, length: int | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) if length is None else length))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def respond(self, body: dict[str, Any], kind: str, arg: Any) -> None:
                if kind == "429":
                    self.send(
                        429,
                        json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}).encode(),
                        {"Retry-After": str(arg)},
                    )
                elif kind == "status":
                    self.send(int(arg), json.dumps({"error": {"message": f"status {arg}"}}).encode())
                elif kind == "400":
                    self.send(400, json.dumps({"error": {"message": str(arg), "type": "invalid_request"}}).encode())
                elif kind == "500":
                    self.send(500, json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode())
                elif kind == "malformed":
                    self.send(200, b'{"id": "x", "choices": [ this is not json')
                elif kind == "cut":
                    data = completion_json(body, "this answer never arrives in full", "stop")
                    self.send(200, data[: len(data) // 2], length=len(data))
                    self.close_connection = True
                elif kind == "hang":
                    server.stopping.wait(120)
                    self.close_connection = True
                elif kind == "slow":
                    if server.stopping.wait(float(arg)):
                        return
                    self.send(200, completion_json(body, "late answer", "stop"))
                elif kind == "logprobs":
                    text = "".join(t for t, _ in arg)
                    self.send(200, completion_json(body, text, "stop", arg if body.get("logprobs") else None))
                else:
                    self.send(200, completion_json(body, str(arg), "length" if kind == "length" else "stop"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def behaviours(self) -> list[str]:
        with self.lock:
            return [r.get("behaviour", "?") for r in self.requests]


def logprobs_json(tokens: list[tuple[str, list[tuple[str, float]]]]) -> dict[str, Any]:
    """Chat completions' ``logprobs`` object: per token its own logprob (from its alternatives) and the top ones."""
    return {
        "content": [
            {
                "token": t,
                "logprob": dict(top).get(t, -20.0),
                "bytes": list(t.encode()),
                "top_logprobs": [{"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in top],
            }
            for t, top in tokens
        ]
    }


def completion_json(
    body: dict[str, Any], text: str, finish: str, logprobs: list[tuple[str, list[tuple[str, float]]]] | None = None
) -> bytes:
    words = len(text.split())
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = logprobs_json(logprobs)
    return json.dumps(
        {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words},
        }
    ).encode()
