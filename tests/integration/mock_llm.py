"""A tiny OpenAI-compatible chat-completions server on loopback that keeps an OpenHands agent busy.

Each request is answered after ``delay`` seconds with one tool call: a shell command ``echo
ohnb-tick-<n>`` while :attr:`MockLLM.mode` is ``"tick"`` (so the agent loop streams real
action/observation pairs, every command different so OpenHands' stuck detector stays quiet), and
``finish`` once the mode is ``"finish"``. Requests with ``tools`` get native ``tool_calls``; requests
without (OpenHands' prompt-based "mock" function calling) get the same call in the text form
``<function=...><parameter=...>...</parameter></function>``.

Both server generations: the shell tool is whichever the request offers, ``execute_bash`` (V0
CodeActAgent) or ``terminal`` (V1 SDK agent, openhands-tools 1.58.2), and only the arguments the
tool's JSON schema declares are sent (``security_risk`` is there when the agent asks for it). Each
request's model and tool names are kept in :attr:`MockLLM.seen` for the tests' reports.
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
        #: switch to ``finish`` by itself after this many commands (None: only when told)
        self.finish_after: int | None = None
        self.requests = 0
        self.ticks = 0
        #: (model, tool names, stream flag) of every request, in order
        self.seen: list[tuple[str | None, tuple[str, ...], bool]] = []
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

    def _next_call(self, request: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        tools = _tool_schemas(request or {})
        with self._lock:
            self.requests += 1
            self.seen.append(((request or {}).get("model"), tuple(tools), bool((request or {}).get("stream"))))
            if self.finish_after is not None and self.ticks >= self.finish_after:
                self.mode = "finish"
            if self.mode == "finish":
                return "finish", _fit({"message": "ohnb mock LLM: done"}, tools.get("finish"))
            self.ticks += 1
            shell = "terminal" if "terminal" in tools else "execute_bash"
            arguments = {"command": f"echo ohnb-tick-{self.ticks}", "security_risk": "LOW"}
            return shell, _fit(arguments, tools.get(shell))

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
                name, arguments = mock._next_call(request)
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


def _tool_schemas(request: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The request's tools: name -> JSON schema of the parameters (None when not given)."""
    tools: dict[str, dict[str, Any] | None] = {}
    for tool in request.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            params = function.get("parameters")
            tools[function["name"]] = params if isinstance(params, dict) else None
    return tools


def _fit(arguments: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """Only the arguments the tool's schema declares (all of them without a schema)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return arguments
    return {key: value for key, value in arguments.items() if key in properties}
