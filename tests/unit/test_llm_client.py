"""``LLMClient.complete`` through the real ``openai`` client against local HTTP servers.

Retries: transport errors, timeouts, HTTP 5xx, 408, 409, 429, answers without content and
answers ``parse`` rejects with ``ValueError`` are asked again, at most ``max_retries`` more
times, sleeping ``retry_backoff_s * 2 ** (attempt - 1)`` before attempt 1, 2, ...; any other 4xx
is final at once. Then ``LLMError`` says why. Only validated answers are cached, and a cached
answer costs no request.

Two servers: the project's fake (``tests/fakes/llm_server.py``, prompt markers such as
FLAKY_ONCE) and ``ScriptedLLM`` below, which answers from a script, for the statuses and
shapes the fake has no marker for.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.errors import LLMError, LLMNotConfigured, LLMUnavailable
from service.llm.cache import LLMCache
from service.llm.client import LLMClient
from service.settings import LLMSettings
from service.stores.sql.db import make_engine, migrate
from tests.conftest import llm_settings

BACKOFF = 0.01
MESSAGES = [{"role": "system", "content": "Reply with JSON."}, {"role": "user", "content": "Hi"}]


def _status(code: int) -> dict:
    return {"status": code}


def _answer(content: str | None) -> dict:
    return {
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ]
    }


def _slow(seconds: float) -> dict:
    return {"sleep": seconds}


class ScriptedLLM:
    """POST /v1/chat/completions answers with the script's next reply (the last one repeats):
    ``_status(code)`` an error, ``_answer(content)`` a completion, ``_slow(s)`` no answer for s
    seconds. ``requests`` holds the JSON bodies received."""

    def __init__(self, *script: dict) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                scripted.requests.append(body)
                reply = scripted.script[min(len(scripted.requests), len(scripted.script)) - 1]
                if "sleep" in reply:
                    time.sleep(reply["sleep"])
                    reply = _status(500)
                status = reply.get("status", 200)
                payload = (
                    {"error": {"message": "scripted", "type": "scripted"}}
                    if status != 200
                    else {"id": "c", "object": "chat.completion", "created": 0, "model": "m", **reply}
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: ``stop`` waits for one (the default 0.5 s per test adds up).
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted():
    servers: list[ScriptedLLM] = []

    def start(*script: dict) -> ScriptedLLM:
        servers.append(ScriptedLLM(*script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def backoffs(monkeypatch) -> list[float]:
    """The seconds the client sleeps between attempts (the test's own thread only; the
    servers' threads sleep unrecorded)."""
    calls: list[float] = []
    real_sleep = time.sleep
    test_thread = threading.current_thread()

    def sleep(seconds: float) -> None:
        if threading.current_thread() is test_thread:
            calls.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return calls


@pytest.fixture
def cache(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'llm.db'}")
    migrate(engine)
    yield LLMCache(engine)
    engine.dispose()


def _client(base_url: str, cache: LLMCache | None = None, **overrides) -> LLMClient:
    values = {
        "base_url": base_url,
        "api_key": "test-key",
        "model": "m",
        "timeout_s": 5.0,
        "max_retries": 2,
        "retry_backoff_s": BACKOFF,
        "max_concurrency": 1,
    }
    values.update(overrides)
    return LLMClient(LLMSettings(**values), cache)


def _ask(client: LLMClient, parse=json.loads, messages=MESSAGES, **kwargs):
    try:
        return client.complete(messages, prompt_version="test-v1", parse=parse, **kwargs)
    finally:
        client.close()


def _fails(client: LLMClient, parse=json.loads) -> str:
    with pytest.raises(LLMError) as caught:
        _ask(client, parse)
    return caught.value.detail


# --- retries on transient errors --------------------------------------------------------------


def test_transient_errors_are_retried_with_exponential_backoff(scripted, backoffs):
    # Three failures then an answer; max_retries 3 allows exactly four attempts. Sleeps before
    # attempts 1, 2, 3: 0.01 * 2**0, 0.01 * 2**1, 0.01 * 2**2.
    server = scripted(_status(500), _status(503), _status(429), _answer('{"answer": 42}'))
    assert _ask(_client(server.base_url, max_retries=3)) == {"answer": 42}
    assert len(server.requests) == 4
    assert backoffs == [0.01, 0.02, 0.04]


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504])
def test_each_retryable_status_is_asked_again(scripted, backoffs, code):
    server = scripted(_status(code), _answer('{"ok": true}'))
    assert _ask(_client(server.base_url, max_retries=1)) == {"ok": True}
    assert len(server.requests) == 2 and backoffs == [BACKOFF]


def test_after_max_retries_the_last_error_is_raised(scripted, backoffs):
    # max_retries 2: 1 + 2 attempts, two sleeps, no sleep after the last failure.
    server = scripted(_status(500))
    assert _fails(_client(server.base_url, max_retries=2)) == "LLM endpoint answered HTTP 500"
    assert len(server.requests) == 3 and backoffs == [0.01, 0.02]


def test_max_retries_zero_asks_once(scripted, backoffs):
    server = scripted(_status(503), _answer('{"ok": true}'))
    assert _fails(_client(server.base_url, max_retries=0)) == "LLM endpoint answered HTTP 503"
    assert len(server.requests) == 1 and backoffs == []


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_other_client_errors_are_not_retried(scripted, backoffs, code):
    server = scripted(_status(code), _answer('{"ok": true}'))
    assert _fails(_client(server.base_url, max_retries=3)) == f"LLM endpoint answered HTTP {code}"
    assert len(server.requests) == 1 and backoffs == []


def test_a_timeout_is_retried_and_reported(scripted, backoffs):
    # The server holds each request 1 s; the client gives up after 0.2 s, twice.
    server = scripted(_slow(1.0))
    detail = _fails(_client(server.base_url, timeout_s=0.2, max_retries=1))
    assert detail == "LLM request timed out after 0.2s"
    assert len(server.requests) == 2 and backoffs == [BACKOFF]


def test_an_unreachable_endpoint_is_retried_and_reported(backoffs):
    with socket.socket() as s:  # a port nothing listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    detail = _fails(_client(f"http://127.0.0.1:{port}/v1", max_retries=2))
    assert detail == "cannot reach LLM endpoint: APIConnectionError"
    assert backoffs == [0.01, 0.02]  # three attempts


def test_an_answer_without_content_is_retried(scripted, backoffs):
    server = scripted(_answer(None), {"choices": []}, _answer('{"ok": 1}'))
    assert _ask(_client(server.base_url, max_retries=2)) == {"ok": 1}
    assert len(server.requests) == 3


def test_answers_without_content_until_the_end_fail(scripted, backoffs):
    server = scripted(_answer(None))
    assert _fails(_client(server.base_url, max_retries=1)) == "LLM returned no content"
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "outage"),
    [
        (_status(503), True),
        (_status(429), True),
        (_slow(1.0), True),
        (_status(400), False),
        (_answer(None), False),
        (_answer("this is { not json"), False),
    ],
)
def test_an_outage_is_told_apart_from_a_bad_answer(scripted, backoffs, reply, outage):
    # LLMUnavailable (an LLMError): the endpoint is down or overloaded, so ingestion retries the
    # job instead of failing the document (tests/integration/test_faults.py).
    server = scripted(reply)
    with pytest.raises(LLMError) as caught:
        _ask(_client(server.base_url, timeout_s=0.2, max_retries=0))
    assert isinstance(caught.value, LLMUnavailable) is outage


def test_an_unreachable_endpoint_is_an_outage(backoffs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMUnavailable):
        _ask(_client(f"http://127.0.0.1:{port}/v1", max_retries=0))


def test_the_project_fake_flaky_once_succeeds_on_the_retry(fake_llm):
    # FLAKY_ONCE: HTTP 500 the first time the fake sees the prompt, then an answer.
    messages = [{"role": "user", "content": "Say something. FLAKY_ONCE"}]
    assert _ask(LLMClient(llm_settings(fake_llm, max_retries=1)), messages=messages) == {}
    assert len(fake_llm.requests) == 2
    messages = [{"role": "user", "content": "Say something else. FLAKY_ONCE"}]
    with pytest.raises(LLMError, match="HTTP 500"):
        _ask(LLMClient(llm_settings(fake_llm, max_retries=0)), messages=messages)
    assert len(fake_llm.requests) == 3


# --- answers parse rejects ------------------------------------------------------------------


def test_an_answer_parse_rejects_is_asked_again(scripted, backoffs):
    # json.loads raises JSONDecodeError, a ValueError: bad output, so one more attempt.
    server = scripted(_answer("this is { not json"), _answer('{"ok": 2}'))
    assert _ask(_client(server.base_url, max_retries=1)) == {"ok": 2}
    assert len(server.requests) == 2 and backoffs == [BACKOFF]


def test_malformed_answers_until_the_end_fail_with_the_parse_error(scripted):
    server = scripted(_answer("this is { not json"))
    detail = _fails(_client(server.base_url, max_retries=1))
    assert detail.startswith("malformed LLM output: Expecting value")
    assert len(server.requests) == 2


def test_the_parse_error_in_the_detail_is_cut_at_300_characters(scripted):
    server = scripted(_answer("{}"))

    def parse(raw: str):
        raise ValueError("x" * 1000)

    assert _fails(_client(server.base_url, max_retries=0), parse) == "malformed LLM output: " + "x" * 300


def test_only_value_error_means_bad_output_other_exceptions_propagate_at_once(scripted, backoffs):
    server = scripted(_answer('{"other": 1}'))
    with pytest.raises(KeyError):
        _ask(_client(server.base_url, max_retries=3), parse=lambda raw: json.loads(raw)["wanted"])
    assert len(server.requests) == 1 and backoffs == []


def test_the_project_fake_malformed_answer_fails_after_the_retries(fake_llm):
    messages = [{"role": "user", "content": "Answer. FAIL_MALFORMED"}]
    with pytest.raises(LLMError, match=r"^malformed LLM output: "):
        _ask(LLMClient(llm_settings(fake_llm, max_retries=2)), messages=messages)
    assert len(fake_llm.requests) == 3


# --- the request --------------------------------------------------------------------------


@pytest.mark.parametrize("json_mode", [True, False])
def test_the_request_carries_model_messages_temperature_and_json_mode(scripted, json_mode):
    server = scripted(_answer('{"ok": 1}'))
    _ask(_client(server.base_url, temperature=0.3), json_mode=json_mode)
    (body,) = server.requests
    assert body["model"] == "m" and body["messages"] == MESSAGES and body["temperature"] == 0.3
    assert body.get("response_format") == ({"type": "json_object"} if json_mode else None)


def test_no_endpoint_and_no_key_is_not_configured():
    with pytest.raises(LLMNotConfigured):
        LLMClient(LLMSettings())


# --- the cache ------------------------------------------------------------------------------


def test_a_cached_answer_costs_no_request(fake_llm, cache):
    client = LLMClient(llm_settings(fake_llm), cache)
    try:
        first = client.complete(MESSAGES, prompt_version="v1", parse=json.loads)
        assert len(fake_llm.requests) == 1
        assert client.complete(MESSAGES, prompt_version="v1", parse=json.loads) == first
        assert len(fake_llm.requests) == 1  # served from the cache
        client.complete(MESSAGES, prompt_version="v2", parse=json.loads)  # another key
        assert len(fake_llm.requests) == 2
    finally:
        client.close()
    # Another client on the same cache (another process) is served from it too.
    other = LLMClient(llm_settings(fake_llm), cache)
    try:
        assert other.complete(MESSAGES, prompt_version="v1", parse=json.loads) == first
    finally:
        other.close()
    assert len(fake_llm.requests) == 2


def test_a_malformed_answer_is_not_cached(scripted, cache):
    # Attempt 1 malformed, attempt 2 valid: only the valid one is cached and replayed.
    server = scripted(_answer("not json"), _answer('{"v": 1}'), _answer('{"v": 2}'))
    assert _ask(_client(server.base_url, cache, max_retries=1)) == {"v": 1}
    assert _ask(_client(server.base_url, cache, max_retries=1)) == {"v": 1}
    assert len(server.requests) == 2


def test_a_failed_call_caches_nothing(scripted, cache):
    server = scripted(_answer("not json"), _answer("not json"), _answer('{"v": 3}'))
    _fails(_client(server.base_url, cache, max_retries=1))
    assert _ask(_client(server.base_url, cache, max_retries=0)) == {"v": 3}
    assert len(server.requests) == 3


def _needs_ok(raw: str) -> dict:
    value = json.loads(raw)
    if "ok" not in value:
        raise ValueError("no 'ok'")
    return value


def test_a_cached_answer_that_no_longer_validates_is_asked_again(scripted, cache):
    # The cache holds {"v": 1} (it passed json.loads); a stricter parse rejects it, so the
    # client asks the endpoint instead of failing.
    server = scripted(_answer('{"v": 1}'), _answer('{"v": 2, "ok": true}'))
    assert _ask(_client(server.base_url, cache)) == {"v": 1}
    assert _ask(_client(server.base_url, cache), parse=_needs_ok) == {"v": 2, "ok": True}
    assert len(server.requests) == 2


def test_the_fresh_answer_replaces_a_cached_answer_that_no_longer_validates(scripted, cache):
    server = scripted(_answer('{"v": 1}'), _answer('{"v": 2, "ok": true}'))
    _ask(_client(server.base_url, cache))
    _ask(_client(server.base_url, cache), parse=_needs_ok)
    assert _ask(_client(server.base_url, cache), parse=_needs_ok) == {"v": 2, "ok": True}
    assert len(server.requests) == 2
