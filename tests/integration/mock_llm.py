"""A tiny OpenAI-compatible chat-completions server on loopback that keeps a V0 CodeActAgent busy.

Each request is answered after ``delay`` seconds with one tool call: ``execute_bash`` running
``echo ohnb-tick-<n>`` while :attr:`MockLLM.mode` is ``"tick"`` (so the agent loop streams real
``run`` action/observation pairs, every command different so OpenHands' stuck detector stays quiet),
and ``finish`` once the mode is ``"finish"``. Requests with ``tools`` get native ``tool_calls``;
requests without (OpenHands' prompt-based "mock" function calling) get the same call in the text
form ``<function=...><parameter=...>...</parameter></function>``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a killed OpenHands server leaves its request half-read: not worth a traceback
        pass


class MockLLM:
    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay
        self.mode = "tick"
        self.requests = 0
        self.ticks = 0
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> MockLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_call(self) -> tuple[str, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self.mode == "finish":
                return "finish", {"message": "ohnb mock LLM: done"}
            self.ticks += 1
            return "execute_bash", {"command": f"echo ohnb-tick-{self.ticks}", "security_risk": "LOW"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._json({"object": "list", "data": [{"id": "dummy-model", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    request = {}
                time.sleep(mock.delay)
                name, arguments = mock._next_call()
                if request.get("tools"):
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{
                            "id": f"call_{mock.requests}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }],
                    }
                    finish_reason = "tool_calls"
                else:
                    params = "".join(f"<parameter={k}>{v}</parameter>\n" for k, v in arguments.items())
                    message = {"role": "assistant", "content": f"<function={name}>\n{params}</function>"}
                    finish_reason = "stop"
                self._json({
                    "id": f"chatcmpl-ohnb-{mock.requests}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "dummy-model"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                })

            def _json(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
