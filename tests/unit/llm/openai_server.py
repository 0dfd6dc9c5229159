"""A scripted OpenAI-compatible chat server on 127.0.0.1 for tests (no network, no key).

Each POST to /v1/chat/completions takes the next scripted step:
    {"status": 500}                      -> that HTTP error with an OpenAI-style error body
    {"sleep": 2.0, "text": "..."}        -> waits (the client times out), then answers
    {"raw": "<html>..."}                 -> HTTP 200 with that body (not JSON: a garbled gateway answer)
    {"text": "...", "usage": {...}}      -> a normal answer; usage may include cached_tokens
When the script is exhausted, `default` answers. Every request body is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedServer:
    """Context manager: starts the server thread, `base_url` points at it."""

    def __init__(self, script: list[dict[str, Any]], default: dict[str, Any] | None = None) -> None:
        self.script = list(script)
        self.default = default or {"text": "no more scripted answers"}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_step(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                step = server.next_step(body)
                if "sleep" in step:
                    time.sleep(step["sleep"])
                if "raw" in step:
                    self._send_bytes(200, step["raw"].encode())
                    return
                if "status" in step:
                    self._send(step["status"], {"error": {"message": f"scripted {step['status']}", "type": "server_error"}})
                    return
                self._send(200, _chat_response(body.get("model", "m"), step["text"], step.get("usage", {})))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._send_bytes(status, json.dumps(payload).encode())

            def _send_bytes(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler


def _chat_response(model: str, text: str, usage: dict[str, int]) -> dict[str, Any]:
    prompt, completion = usage.get("prompt_tokens", 100), usage.get("completion_tokens", 50)
    out: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }
    if "cached_tokens" in usage:
        out["usage"]["prompt_tokens_details"] = {"cached_tokens": usage["cached_tokens"]}
    return out
