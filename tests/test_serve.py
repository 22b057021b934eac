"""`mathdistill serve`: the HTTP API on the real app (FastAPI TestClient, and uvicorn on 127.0.0.1 for
concurrency), a fake backend with fixed texts for answers/votes/abstention, every PoT program run by
the real sandbox, and a tiny random transformers model for the API shape."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
import httpx
import uvicorn
from fastapi.testclient import TestClient

from mathdistill.sandbox import Sandbox
from mathdistill.serve import ServeOptions, check_bind, create_app, is_loopback
from mathdistill.thoughts import INSTRUCTIONS

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have now?"
RIGHT = {
    "pot": "apples = 3\nbought = 4\nans = apples + bought\nprint('total', ans)",
    "eot": "apples = 3\nbought = 4\nans = apples + bought",
    "cot": "Tom starts with 3 apples and buys 4 more, so 3 + 4 = 7. The answer is 7.",
}
_BY_INSTRUCTION = {v: k for k, v in INSTRUCTIONS.items()}


def parse_prompt(prompt: str) -> tuple[str, str]:
    """(question, thought) back from `student_prompt`."""
    first, instruction = prompt.rstrip("\n").split("\n", 1)
    return first.removeprefix("Question: "), _BY_INSTRUCTION[instruction]


class FakeBackend:
    """Fixed texts per thought (or per question and thought); records how it is called."""

    name = "fake"
    model = "fake-student"

    def __init__(self, texts=None, delay: float = 0.0, gate: threading.Event | None = None, fail_on: str | None = None,
                 every_call: float = 0.0):
        self.texts = texts or RIGHT
        self.delay = delay  # for questions with "slow" in them
        self.every_call = every_call  # for every call
        self.gate = gate
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.entered = threading.Event()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def text(self, question: str, thought: str) -> str:
        t = self.texts(question, thought) if callable(self.texts) else self.texts
        return t[thought] if isinstance(t, dict) else t

    def generate(self, prompts, max_new_tokens, progress=None):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(list(prompts))
            self.threads.add(threading.get_ident())
        try:
            self.entered.set()
            if self.gate is not None:
                assert self.gate.wait(30), "the test never opened the gate"
            pairs = [parse_prompt(p) for p in prompts]
            if self.fail_on and any(self.fail_on in q for q, _ in pairs):
                raise RuntimeError("the model fell over")
            if any("slow" in q for q, _ in pairs):
                time.sleep(self.delay)
            time.sleep(self.every_call)
            return [self.text(q, t) for q, t in pairs]
        finally:
            with self._lock:
                self.active -= 1

    def close(self):
        pass


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1) as sb:
        yield sb


@contextlib.contextmanager
def client(backend=None, sandbox=None, **options):
    app = create_app(backend or FakeBackend(), sandbox, ServeOptions(**options))
    with TestClient(app) as c:
        yield c


@contextlib.contextmanager
def live_server(app):
    """uvicorn serving `app` on a free 127.0.0.1 port, in a thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


# ---------------------------------------------------------------------------------------------
# answers, verification, votes, abstention


def test_all_three_agree_verified_in_the_sandbox(sandbox):
    with client(sandbox=sandbox) as c:
        r = c.post("/v1/solve", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    j = r.json()
    assert set(j["thoughts"]) == {"cot", "pot", "eot"}
    pot, eot, cot = j["thoughts"]["pot"], j["thoughts"]["eot"], j["thoughts"]["cot"]
    assert pot["rationale"] == RIGHT["pot"] and pot["answer"] == "7" and pot["failure"] is None
    assert pot["verification"]["method"] == "sandbox"
    assert pot["verification"]["stdout"] == "total 7\n"  # printed inside the sandbox
    assert pot["verification"]["program"] == RIGHT["pot"]
    assert eot["answer"] == "7" and eot["verification"]["values"] == {"apples": "3", "bought": "4", "ans": "7"}
    assert eot["verification"]["method"] == "solver" and eot["verification"]["solver"] == "linear"
    assert cot["answer"] == "7" and cot["verification"]["rule"] == "marker"
    assert (j["vote"], j["agree"], j["voters"], j["abstain"], j["min_agree"]) == ("7", 3, 3, False, 2)
    assert j["support"] == ["eot", "pot", "cot"]
    assert j["plausible_vote"] == {"answer": "7", "agree": 3, "support": ["eot", "pot", "cot"], "voters": 3}
    assert j["question"] == QUESTION and j["backend"] == "fake" and j["model"] == "fake-student"
    assert j["timing"]["total"] >= j["timing"]["verification"] >= 0


def test_two_of_three_agree(sandbox):
    texts = dict(RIGHT, cot="3 + 4 = 8. The answer is 8.")
    with client(FakeBackend(texts), sandbox) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
    assert (j["vote"], j["agree"], j["support"], j["abstain"]) == ("7", 2, ["eot", "pot"], False)
    assert j["thoughts"]["cot"]["answer"] == "8"


def test_abstains_when_no_two_agree_and_min_agree_is_a_server_option(sandbox):
    texts = {"pot": "ans = 3 * 4", "eot": "ans = 3 + 4 + 1", "cot": "The answer is 9."}
    with client(FakeBackend(texts), sandbox) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
    assert j["thoughts"]["pot"]["answer"] == "12" and j["thoughts"]["eot"]["answer"] == "8"
    assert (j["vote"], j["agree"], j["support"], j["abstain"]) == ("8", 1, ["eot"], True)  # ties go to EoT
    with client(FakeBackend(texts), sandbox, min_agree=1) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
    assert (j["vote"], j["abstain"], j["min_agree"]) == ("8", False, 1)
    with client(FakeBackend(RIGHT), sandbox, min_agree=3) as c:
        assert c.post("/v1/solve", json={"question": QUESTION}).json()["abstain"] is False
    with client(FakeBackend(dict(RIGHT, cot="no idea")), sandbox, min_agree=3) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
    assert (j["vote"], j["agree"], j["abstain"]) == ("7", 2, True)


def test_failures_do_not_vote_and_hostile_programs_stay_in_the_sandbox(sandbox):
    texts = {"pot": "import os\nos.system('touch /tmp/mathdistill-serve-pwned')\nans = 7",
             "eot": "ans = x + 1", "cot": "I do not know."}
    with client(FakeBackend(texts), sandbox) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
        pot = j["thoughts"]["pot"]
        assert pot["answer"] is None and pot["failure"].startswith("forbidden")
        assert j["thoughts"]["eot"]["answer"] is None and j["thoughts"]["eot"]["failure"]
        assert j["thoughts"]["cot"]["answer"] is None and j["thoughts"]["cot"]["verification"]["rule"] == "none"
        assert (j["vote"], j["agree"], j["voters"], j["abstain"]) == (None, 0, 0, True)
        assert c.get("/healthz").status_code == 200
    import os

    assert not os.path.exists("/tmp/mathdistill-serve-pwned")


def test_plausible_vote_sets_negative_answers_aside(sandbox):
    texts = {"pot": "ans = 4 - 7", "eot": "ans = 7 - 4", "cot": "The answer is -3."}
    with client(FakeBackend(texts), sandbox) as c:
        j = c.post("/v1/solve", json={"question": QUESTION}).json()
    assert (j["vote"], j["agree"], j["support"]) == ("-3", 2, ["pot", "cot"])
    assert j["plausible_vote"]["answer"] == "3" and j["plausible_vote"]["support"] == ["eot"]


def test_a_subset_of_thoughts(sandbox):
    backend = FakeBackend()
    with client(backend, sandbox) as c:
        j = c.post("/v1/solve", json={"question": QUESTION, "thoughts": ["pot", "pot"]}).json()
    assert list(j["thoughts"]) == ["pot"] and len(backend.calls[-1]) == 1
    assert (j["vote"], j["agree"], j["abstain"]) == ("7", 1, True)  # one thought cannot reach min_agree=2


# ---------------------------------------------------------------------------------------------
# bad input, limits, auth


@pytest.mark.parametrize("kwargs, status, says", [
    ({"json": {"question": ""}}, 422, "empty"),
    ({"json": {"question": "   \n "}}, 422, "empty"),
    ({"json": {"question": "x" * 2001}}, 413, "2000"),
    ({"json": {"question": "x" * 200_000}}, 413, "16384 bytes"),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ({"content": b"", "headers": {"Content-Type": "application/json"}}, 422, ""),
    ({"json": ["a list"]}, 422, "JSON object"),
    ({"json": {"q": "hi"}}, 422, "question"),
    ({"json": {"question": 42}}, 422, "string"),
    ({"json": {"question": "hi", "thoughts": ["pot", "xot"]}}, 422, "'cot', 'pot' or 'eot'"),
    ({"json": {"question": "hi", "thoughts": []}}, 422, "thoughts"),
    ({"json": {"question": "hi", "temperature": 2}}, 422, "temperature"),
])
def test_bad_bodies_get_4xx_with_detail(sandbox, kwargs, status, says):
    backend = FakeBackend()
    with client(backend, sandbox) as c:
        r = c.post("/v1/solve", **kwargs)
        assert r.status_code == status, r.text
        assert "detail" in r.json() and says in json.dumps(r.json())
        assert c.get("/healthz").status_code == 200
    assert backend.calls == []  # nothing reached the model


def test_body_limit_holds_without_content_length(sandbox):
    """A chunked body (no Content-Length) over the limit is cut off at 16 KB too, on a real server."""
    app = create_app(FakeBackend(), sandbox, ServeOptions())

    def chunks():
        for _ in range(40):
            yield b"x" * 1024

    with live_server(app) as base:
        r = httpx.post(base + "/v1/solve", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "16384" in r.json()["detail"]
        assert httpx.post(base + "/v1/solve", json={"question": QUESTION}).status_code == 200


def test_api_key_on_every_request_but_healthz_and_the_page(sandbox):
    with client(sandbox=sandbox, api_key="s3cret-token") as c:
        assert c.get("/healthz").status_code == 200
        page = c.get("/")  # static: it asks the person for the key and sends it on every API call
        assert page.status_code == 200 and 'id="key"' in page.text and "Authorization" in page.text
        assert c.post("/").status_code == 401
        for path in ("/docs", "/openapi.json", "/v1/info"):
            assert c.get(path).status_code == 401, path
        r = c.post("/v1/solve", json={"question": QUESTION})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer") and r.json()["detail"]
        bad = c.post("/v1/solve", json={"question": QUESTION}, headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401
        # a large body without the key is refused before it is read
        assert c.post("/v1/solve", content=b"x" * 100_000).status_code == 401
        ok = c.post("/v1/solve", json={"question": QUESTION}, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and ok.json()["vote"] == "7"
        assert c.get("/", headers={"Authorization": "bearer s3cret-token"}).status_code == 200


def test_bind_rules():
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        check_bind(host, None, False)
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ValueError, match="--api-key-env"):
            check_bind(host, None, False)
        check_bind(host, "key", False)
        check_bind(host, None, True)
    with pytest.raises(ValueError, match="contradict"):
        check_bind("127.0.0.1", "key", True)


def test_cli_refuses_a_public_address_without_auth(monkeypatch):
    from typer.testing import CliRunner

    from mathdistill import cli

    runner = CliRunner()
    r = runner.invoke(cli.app, ["serve", "no-such-model", "--host", "0.0.0.0"])
    assert r.exit_code != 0 and "refusing to serve on 0.0.0.0" in str(r.exception)
    monkeypatch.delenv("MD_TEST_KEY", raising=False)
    r = runner.invoke(cli.app, ["serve", "no-such-model", "--host", "0.0.0.0", "--api-key-env", "MD_TEST_KEY"])
    assert r.exit_code != 0 and "MD_TEST_KEY" in str(r.exception)
    r = runner.invoke(cli.app, ["serve", "no-such-model", "--backend", "nope"])
    assert r.exit_code != 0 and "backend: expected" in str(r.exception)


# ---------------------------------------------------------------------------------------------
# the queue: one generation thread, batching, 503 when full, 504 past the time limit


def test_queue_full_gets_503_with_retry_after(sandbox):
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    app = create_app(backend, sandbox, ServeOptions(max_pending=2, max_batch=1))
    with live_server(app) as base:
        results: list[int] = []

        def ask():
            results.append(httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=60).status_code)

        first = threading.Thread(target=ask)
        first.start()
        assert backend.entered.wait(10)  # the first request is generating
        second = threading.Thread(target=ask)
        second.start()
        for _ in range(200):  # the second one waits in the queue
            if app.state.queue.stats()["pending"] == 2:
                break
            time.sleep(0.02)
        r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=10)
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1 and "busy" in r.json()["detail"]
        assert httpx.get(base + "/healthz").status_code == 200  # busy, not broken
        gate.set()
        first.join(30)
        second.join(30)
        assert results == [200, 200]
        assert httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30).status_code == 200


def test_slow_generation_gets_504_and_frees_its_slot(sandbox):
    backend = FakeBackend(delay=3.0)
    app = create_app(backend, sandbox, ServeOptions(timeout=0.5, max_pending=1))
    with live_server(app) as base:
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/solve", json={"question": "a slow one: " + QUESTION}, timeout=30)
        assert r.status_code == 504 and "0.5 s" in r.json()["detail"]
        assert time.monotonic() - t0 < 2.5
        assert app.state.queue.stats()["pending"] == 0  # the slot is free again
        # the next request is admitted at once (no 503), and is answered once the worker is free
        r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30)
        assert r.status_code in (200, 504), r.text
        time.sleep(3.0)
        r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30)
        assert r.status_code == 200 and r.json()["vote"] == "7"


class StoppableBackend(FakeBackend):
    """A backend that can stop early (`should_stop`), as the queue offers to backends that accept it."""

    def generate(self, prompts, max_new_tokens, progress=None, should_stop=None):
        pairs = [parse_prompt(p) for p in prompts]
        if any("slow" in q for q, _ in pairs):
            end = time.monotonic() + self.delay
            while time.monotonic() < end:
                if should_stop():
                    self.stopped_early = True
                    return ["" for _ in prompts]
                time.sleep(0.02)
        return [self.text(q, t) for q, t in pairs]


def test_a_backend_that_can_stop_is_stopped_when_its_requests_gave_up(sandbox):
    backend = StoppableBackend(delay=20.0)
    app = create_app(backend, sandbox, ServeOptions(timeout=0.5))
    with live_server(app) as base:
        assert httpx.post(base + "/v1/solve", json={"question": "slow " + QUESTION}, timeout=30).status_code == 504
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30)
        assert r.status_code == 200 and time.monotonic() - t0 < 5  # the worker did not grind on for 20 s
        stats = app.state.queue.stats()
    assert backend.stopped_early and stats["abandoned"] == 1 and stats["backend_can_stop"]


def test_requests_that_cannot_be_answered_in_time_are_refused_at_once(sandbox):
    """Overload: once a batch is known to take 1 s, a request that would wait 2 s with a 1.5 s limit
    gets 503 with Retry-After immediately, not a 504 after 1.5 s of waiting."""
    backend = FakeBackend(every_call=1.0)
    app = create_app(backend, sandbox, ServeOptions(timeout=1.5, max_batch=1))
    with live_server(app) as base:
        assert httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30).status_code == 200
        first: list[int] = []
        t = threading.Thread(target=lambda: first.append(
            httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30).status_code))
        t.start()
        for _ in range(100):
            if app.state.queue.stats()["busy_s"] > 0:
                break
            time.sleep(0.02)
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30)
        assert r.status_code == 503 and time.monotonic() - t0 < 0.5, r.text
        assert int(r.headers["Retry-After"]) >= 1 and "more than its 1.5 s limit" in r.json()["detail"]
        t.join(30)
        assert first == [200]
        time.sleep(0.2)  # idle again: admitted
        assert httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30).status_code == 200
        assert app.state.queue.stats()["shed"] == 1


def test_a_request_left_too_little_time_is_not_started(sandbox):
    """Requests admitted before the first batch measured how slow generation is: one that has
    waited most of its time is answered 504 at once instead of being generated for nothing."""
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    app = create_app(backend, sandbox, ServeOptions(timeout=2.0, max_batch=1))
    with live_server(app) as base:
        out: dict[str, tuple[int, float, str]] = {}

        def ask(name):
            t0 = time.monotonic()
            r = httpx.post(base + "/v1/solve", json={"question": QUESTION}, timeout=30)
            out[name] = (r.status_code, time.monotonic() - t0, r.text)

        a = threading.Thread(target=ask, args=("a",))
        a.start()
        assert backend.entered.wait(10)
        b = threading.Thread(target=ask, args=("b",))
        b.start()
        time.sleep(1.3)  # the first batch takes 1.3 s: b has 0.7 s left, under 80% of a batch
        gate.set()
        a.join(30)
        b.join(30)
    assert out["a"][0] == 200
    assert out["b"][0] == 504 and "not started" in out["b"][2] and out["b"][1] < 1.9
    assert len(backend.calls) == 1 and app.state.queue.stats()["shed"] == 1


def test_concurrent_requests_are_batched_on_one_thread(sandbox):
    gate = threading.Event()
    right = {f"q{i}": {"pot": f"ans = {i} + 1", "eot": f"ans = {i} + 1", "cot": f"The answer is {i + 1}."}
             for i in range(6)}
    backend = FakeBackend(lambda q, t: right[q.split()[0]], gate=gate)
    app = create_app(backend, sandbox, ServeOptions(max_batch=4))
    with live_server(app) as base:
        out: dict[int, dict] = {}

        def ask(i):
            out[i] = httpx.post(base + "/v1/solve", json={"question": f"q{i} how many?"}, timeout=60).json()

        threads = [threading.Thread(target=ask, args=(0,))]
        threads[0].start()
        assert backend.entered.wait(10)
        threads += [threading.Thread(target=ask, args=(i,)) for i in range(1, 6)]
        for t in threads[1:]:
            t.start()
        for _ in range(200):
            if app.state.queue.stats()["waiting"] == 5:
                break
            time.sleep(0.02)
        gate.set()
        for t in threads:
            t.join(60)
    assert {i: (o["vote"], o["agree"]) for i, o in out.items()} == {i: (str(i + 1), 3) for i in range(6)}
    assert len(backend.threads) == 1 and backend.max_active == 1  # never two generations at once
    assert [len(c) for c in backend.calls] == [3, 12, 3]  # 1 request, then 4 together, then the last one
    assert max(o["timing"]["batch"] for o in out.values()) == 4


def test_backend_failure_is_a_500_and_the_server_lives_on(sandbox):
    backend = FakeBackend(fail_on="explode")
    with client(backend, sandbox) as c:
        r = c.post("/v1/solve", json={"question": "explode " + QUESTION})
        assert r.status_code == 500 and "RuntimeError" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/solve", json={"question": QUESTION}).json()["vote"] == "7"


# ---------------------------------------------------------------------------------------------
# health, docs, the page


def test_health_docs_info_and_page(sandbox):
    with client(sandbox=sandbox) as c:
        h = c.get("/healthz")
        assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["queue"]["pending"] == 0
        docs = c.get("/docs")
        assert docs.status_code == 200 and "/openapi.json" in docs.text
        assert "cdn." not in docs.text and "/docs/assets/swagger-ui-bundle.js" in docs.text  # works offline
        js = c.get("/docs/assets/swagger-ui-bundle.js")
        assert js.status_code == 200 and "SwaggerUIBundle" in js.text
        assert c.get("/docs/assets/swagger-ui.css").status_code == 200
        spec = c.get("/openapi.json").json()
        assert "/v1/solve" in spec["paths"] and "SolveResponse" in spec["components"]["schemas"]
        info = c.get("/v1/info").json()
        assert info["max_question_chars"] == 2000 and info["max_body_bytes"] == 16384 and info["min_agree"] == 2
        page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<label for="question">' in html and '<label for="example">' in html and 'lang="en"' in html
    assert 'name="viewport"' in html and "@media (max-width" in html  # phones
    assert html.count("<option value=\"") >= 5  # SVAMP examples
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert "innerHTML" not in html  # model text is only ever set as text


def test_healthz_is_503_when_the_worker_is_gone(sandbox):
    with client(sandbox=sandbox) as c:
        c.app.state.queue.stop()
        assert c.get("/healthz").status_code == 503
        assert c.post("/v1/solve", json={"question": QUESTION}).status_code == 500


# ---------------------------------------------------------------------------------------------
# a real (tiny, random) transformers model behind the API


def test_tiny_transformers_model_api_shape(tiny_causal, sandbox):
    from mathdistill.evaluate.backends import open_backend

    backend = open_backend("transformers", tiny_causal)
    with client(backend, sandbox, max_new_tokens=24) as c:
        r = c.post("/v1/solve", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["backend"] == "transformers" and j["model"] == tiny_causal
    for t, method in (("cot", "extraction"), ("pot", "sandbox"), ("eot", "solver")):
        x = j["thoughts"][t]
        assert isinstance(x["rationale"], str) and x["verification"]["method"] == method
        assert (x["answer"] is None) != (x["failure"] is None)
    assert isinstance(j["abstain"], bool) and j["agree"] == len(j["support"]) and "vote" in j


# ---------------------------------------------------------------------------------------------
# the load benchmark, small, against the fake backend


def test_load_benchmark_against_a_live_server(sandbox):
    import asyncio
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.is_loopback_url("http://127.0.0.1:8000") and not bench.is_loopback_url("http://10.0.0.1:8000")
    app = create_app(FakeBackend(), sandbox, ServeOptions(max_pending=3))
    with live_server(app) as base:
        r = asyncio.run(bench.run_load(base, [QUESTION], clients=5, per_client=3, max_seconds=60, timeout=30, headers={}))
        assert r["requests"] == r["responses"] == 15 and r["transport_errors"] == 0
        assert r["answered"] + r["status_counts"].get("503", 0) == 15 and r["errors_5xx"] == r["status_counts"].get("503", 0)
        assert r["latency_s"]["p50"] is not None and r["requests_per_s"] > 0
        r = asyncio.run(bench.run_load(base, [QUESTION], clients=4, per_client=2, max_seconds=60, timeout=30, headers={},
                                       retries=20))
    assert r["requests"] == r["answered"] == 8 and r["failed"] == 0  # polite clients all get through


# ---------------------------------------------------------------------------------------------
# with a verifier: its calibrated confidence and threshold decide


def greedy_verifier(threshold):
    from mathdistill.verifier import Verifier

    return Verifier(scorer="agreement", method="verifier_vote", thresholds={"verifier_vote": {"threshold": threshold}},
                    meta={"read": {"k": 1, "temperatures": [0.0], "thoughts": ["cot", "pot", "eot"]}})


def test_a_verifier_gives_confidence_and_decides_abstention(sandbox):
    split = {"pot": "ans = 3 * 4", "eot": "ans = 3 + 4 + 1", "cot": "The answer is 9."}
    for texts, verifier, answer, support, confidence, abstain in [
            (RIGHT, greedy_verifier(0.5), "7", ["eot", "pot", "cot"], 1.0, False),
            (split, greedy_verifier(0.5), "8", ["eot"], 0.3333, True),  # three answers of equal weight: EoT's first
            (split, greedy_verifier(0.3), "8", ["eot"], 0.3333, False),
            (RIGHT, greedy_verifier(None), "7", ["eot", "pot", "cot"], 1.0, True)]:  # it never reached its target
        app = create_app(FakeBackend(texts), sandbox, ServeOptions(min_agree=1), verifier=verifier)
        with TestClient(app) as c:
            j = c.post("/v1/solve", json={"question": QUESTION}).json()
            info = c.get("/v1/info").json()
        assert j["verifier"]["answer"] == answer and j["verifier"]["confidence"] == confidence
        assert (j["vote"], j["support"], j["agree"]) == (answer, support, len(support))  # `vote`: the selected answer
        assert j["majority"]["answer"] == answer and j["verifier"]["support"] == support
        assert j["abstain"] is abstain and j["verifier"]["abstain"] is abstain  # min_agree=1 is overruled
        assert j["verifier"]["scorer"] == "agreement" and info["verifier"].startswith("agreement verifier")
    app = create_app(FakeBackend(RIGHT), sandbox, ServeOptions(), verifier=greedy_verifier(0.5))
    with TestClient(app) as c:  # a request for other thoughts than the verifier's: the agreement rule
        j = c.post("/v1/solve", json={"question": QUESTION, "thoughts": ["pot"]}).json()
    assert j["verifier"] is None and j["abstain"] is True
