"""A small OpenAI-compatible HTTP server for tests: deterministic canned answers, and failure
modes switched on by markers in the prompt text.

It speaks ``POST /v1/chat/completions`` (what the real ``openai`` client sends) and recognises
which of our prompts it got from the system message. Markers in the passage/question text:

* ``FAIL_500``      -> HTTP 500 every time
* ``FAIL_TIMEOUT``  -> sleeps longer than the client's timeout
* ``FAIL_MALFORMED``-> 200 with content that is not the JSON we asked for
* ``FLAKY_ONCE``    -> HTTP 500 on the first request for that prompt, then a good answer

An outage of the whole endpoint, switched on and off by the test: ``failing = 503`` answers
every request with that status until it is set back to ``None``; ``fail_after(n)`` sets it after
``n`` more requests (an outage at a known point of a job); ``stop()`` then ``restart()`` refuses
connections in between (the same port listens again).

Otherwise NER returns the capitalized words of the passage, and triples link consecutive
entities with the relation "related to"; ``canned`` can override both per passage substring.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CAPS = re.compile(r"\b[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*")


class FakeLLM:
    def __init__(self, timeout_sleep_s: float = 3.0) -> None:
        self.canned: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.timeout_sleep_s = timeout_sleep_s
        self.failing: int | None = None  # an HTTP status every request gets while set
        self._fail_after: tuple[int, int] | None = None  # (requests left, then this status)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def restart(self) -> FakeLLM:
        """Listen again on the same port after ``stop`` (connections were refused meanwhile)."""
        port = self._server.server_address[1]
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        return self.start()

    def fail_after(self, requests: int, status: int = 503) -> None:
        """Answer ``requests`` more requests as usual, then every one with ``status``."""
        with self._lock:
            self._fail_after = (requests, status)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.requests if r["kind"] == kind)

    # --- canned behaviour -------------------------------------------------------------------

    def _lookup(self, text: str) -> dict[str, Any] | None:
        for key, value in self.canned.items():
            if key in text:
                return value
        return None

    def _content(self, kind: str, user: str) -> str:
        if kind == "ner":
            passage = user.split("Passage:\n", 1)[-1]
            canned = self._lookup(passage)
            names = canned["entities"] if canned else list(dict.fromkeys(_CAPS.findall(passage)))
            return json.dumps({"named_entities": names})
        if kind == "triples":
            passage = user.split("Passage:\n", 1)[-1].split("\n\nNamed entities:", 1)[0]
            canned = self._lookup(passage)
            if canned:
                return json.dumps({"triples": canned["triples"]})
            names = json.loads(user.rsplit("Named entities: ", 1)[-1])
            return json.dumps({"triples": [[a, "related to", b] for a, b in itertools.pairwise(names)]})
        if kind == "reader":
            question = user.rsplit("Question: ", 1)[-1]
            for key, value in self.answers.items():
                if key in question:
                    return json.dumps({"answer": value, "reasoning": "canned"})
            return json.dumps({"answer": "unknown", "reasoning": "no canned answer"})
        if kind == "filter":
            facts = user.split("Facts:\n", 1)[-1].strip().splitlines()
            keep = [i for i, line in enumerate(facts) if "DROP" not in line]
            return json.dumps({"keep": keep})
        return json.dumps({})

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # the client gave up (timeout tests)
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length) or b"{}")
                messages = request.get("messages", [])
                system = next((m["content"] for m in messages if m["role"] == "system"), "")
                user = next((m["content"] for m in messages if m["role"] == "user"), "")
                kind = (
                    "ner"
                    if "named entities it mentions" in system
                    else "triples"
                    if "knowledge graph" in system
                    else "reader"
                    if "Answer the question" in system
                    else "filter"
                    if "candidate facts" in system
                    else "other"
                )
                with fake._lock:
                    fake.requests.append({"kind": kind, "user": user, "model": request.get("model")})
                    first_time = user not in fake._seen
                    fake._seen.add(user)
                    if fake._fail_after is not None:
                        left, status = fake._fail_after
                        fake._fail_after = (left - 1, status) if left else None
                        if not left:
                            fake.failing = status
                    outage = fake.failing
                if outage is not None:
                    self._send(outage, {"error": {"message": "endpoint down", "type": "server_error"}})
                    return
                if "FAIL_500" in user or ("FLAKY_ONCE" in user and first_time):
                    self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                    return
                if "FAIL_TIMEOUT" in user:
                    time.sleep(fake.timeout_sleep_s)
                    self._send(500, {"error": {"message": "too late"}})
                    return
                content = "this is { not json" if "FAIL_MALFORMED" in user else fake._content(kind, user)
                self._send(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": 0,
                        "model": request.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

        return Handler
