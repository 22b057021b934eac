"""Generation backends beside transformers: llama.cpp in process (continuous batching) and any
OpenAI-compatible /v1/completions server. The real-model tests use SmolLM2-135M from its PyPI
package, converted to an f16 GGUF by llama.cpp's own converter (cached after the first run)."""

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from fake_openai import JSONHandler

from mathdistill.evaluate import backends
from mathdistill.evaluate.run import EvalConfig, _backend_options
from mathdistill.models import ModelError
from mathdistill.teachers.openai_compat import TeacherError
from mathdistill.thoughts import THOUGHTS, student_prompt

QUESTIONS = [
    "Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. How many pens does Jack have now?",
    "A baker made 24 cakes and sold 17 of them. How many cakes does the baker have left?",
]
PROMPTS = [student_prompt(q, t) for q in QUESTIONS for t in THOUGHTS]  # 6 prompts, every thought


def test_the_new_backends_are_registered_and_get_their_options():
    assert set(backends.BACKENDS) == {"transformers", "llamacpp", "openai"}
    with pytest.raises(ValueError, match="unknown backend 'vllm'"):
        backends.open_backend("vllm", "x")
    cfg = EvalConfig(backend="llamacpp", parallel=4, threads=1)
    assert _backend_options(cfg) == {"parallel": 4, "threads": 1}
    cfg = EvalConfig(backend="openai", base_url="http://h:1/v1", api_key_env="K", concurrency=3)
    assert _backend_options(cfg) == {"base_url": "http://h:1/v1", "api_key_env": "K", "concurrency": 3}


# ---------------------------------------------------------------------------------------------
# llama.cpp

@pytest.fixture(scope="module")
def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make llamacpp)")


@pytest.fixture(scope="module")
def smollm_gguf(llama_cpp):
    from mathdistill.models.to_gguf import gguf_for

    return gguf_for("smollm2-135m", "f16")  # converted once into the model cache


def test_missing_gguf_is_a_clear_error(llama_cpp, tmp_path):
    with pytest.raises(ModelError, match="GGUF model not found: .*nothere.gguf"):
        backends.open_backend("llamacpp", str(tmp_path / "nothere.gguf"))


def test_a_file_that_is_not_gguf_is_refused(llama_cpp, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model\n")
    with pytest.raises(ModelError, match=r"not a GGUF file \(it starts with b'not '.*mathdistill export"):
        backends.open_backend("llamacpp", str(fake))
    with pytest.raises(ModelError, match="holds no Hugging Face checkpoint"):
        backends.open_backend("llamacpp", str(tmp_path))


@pytest.mark.slow
def test_llamacpp_tokenizes_as_the_hf_tokenizer(smollm_gguf, tokenizer):
    """No chat template and no BOS: the GGUF must give the ids the student was trained on."""
    from mathdistill import datasets as ds
    from mathdistill.models.to_gguf import GGUFVocab

    texts = PROMPTS + [student_prompt(p.question, t) for p in ds.load("svamp:test")[:5] for t in THOUGHTS]
    # (one known difference, in no benchmark file: llama.cpp splits " ½" into " " + "½", HF into two bytes)
    texts += ["  two  spaces, a tab\tand ünïcödé 日本語\n\n", "ans = 3 * (4 + 5) / 2.5e3  # <|im_end|> text"]
    with GGUFVocab(smollm_gguf) as vocab:
        assert vocab.add_bos is False
        for text in texts:
            assert vocab.tokenize(text) == tokenizer(text).input_ids, text
        assert "<|im_end|>" in vocab.end_of_generation()


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["f16", "q4_k_m"])
def test_batching_does_not_change_the_greedy_texts(llama_cpp, quant):
    """parallel=4 over 6 prompts refills slots as sequences end and ends with lone sequences: every
    text must equal the one-at-a-time run's (q4_k_m: SmolLM2's holds Q4_K tensors, which llama.cpp
    would repack for kernels that round by batch size)."""
    from mathdistill.evaluate.backends.llamacpp import LlamaCppBackend
    from mathdistill.models.to_gguf import gguf_for

    gguf = str(gguf_for("smollm2-135m", quant))
    with LlamaCppBackend(gguf, parallel=1, threads=1) as one:
        alone = one.generate(PROMPTS, 64)
    done = []
    with LlamaCppBackend(gguf, parallel=4, threads=1) as four:
        batched = four.generate(PROMPTS, 64, progress=done.append)
        assert four.generate([], 64) == []
        assert four.generate(PROMPTS[:1], 64) == alone[:1]  # a lone sequence, padded
    assert batched == alone
    assert sum(done) == len(PROMPTS)
    assert all(t and t == t.strip() for t in alone)


@pytest.mark.slow
def test_llamacpp_agrees_with_the_transformers_backend(smollm_gguf):
    """The f16 GGUF and the fp32 checkpoint it came from write the same greedy text for most prompts."""
    hf = backends.open_backend("transformers", "smollm2-135m", bf16=False, batch_size=6)
    want = hf.generate(PROMPTS, 48)
    hf.close()
    be = backends.open_backend("llamacpp", str(smollm_gguf), parallel=6, threads=1)
    try:
        got = be.generate(PROMPTS, 48)
    finally:
        be.close()
    same = sum(a == b for a, b in zip(got, want))
    assert same >= 4, list(zip(got, want))
    for a, b in zip(got, want):  # where they differ, only late (a near tie in the last bits)
        assert a[:20] == b[:20], (a, b)


@pytest.mark.slow
def test_evaluate_runs_on_the_llamacpp_backend(smollm_gguf, tmp_path):
    from mathdistill.evaluate.run import run_evaluate

    cfg = EvalConfig(model=str(smollm_gguf), splits=["svamp:test"], limit=2, out=str(tmp_path / "eval"),
                     backend="llamacpp", parallel=3, threads=1, max_new_tokens=32, workers=1)
    metrics = run_evaluate(cfg)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["backend"] for r in rows} == {"llamacpp"}
    assert metrics["splits"]["svamp:test"]["problems"] == 2


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible completions

class FakeCompletions:
    """A /v1/completions stand-in: echoes a function of the prompt, fails the first `fail_first`
    requests with 503, and records the bodies, headers and the most requests in flight at once."""

    def __init__(self, fail_first: int = 0, delay: float = 0.05):
        self.bodies, self.auth, self.in_flight, self.peak = [], [], 0, 0
        self.fail_first, self.delay = fail_first, delay
        lock = threading.Lock()
        outer = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    outer.bodies.append((self.path, body))
                    outer.auth.append(self.headers.get("Authorization"))
                    n = len(outer.bodies)
                    outer.in_flight += 1
                    outer.peak = max(outer.peak, outer.in_flight)
                time.sleep(outer.delay)
                with lock:
                    outer.in_flight -= 1
                if n <= outer.fail_first:
                    return self._send(503, {"error": "busy"})
                self._send(200, {"choices": [{"text": f"  len {len(body['prompt'])}\n", "finish_reason": "stop"}]})


        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_openai_backend_posts_plain_prompts_to_completions(monkeypatch):
    monkeypatch.setenv("STUDENT_KEY", "sekret")
    fake = FakeCompletions(fail_first=1)
    try:
        be = backends.open_backend("openai", "student", base_url=fake.base_url, api_key_env="STUDENT_KEY",
                                   concurrency=2, extra_body={"repeat_penalty": 1.0})
        done = []
        texts = be.generate(PROMPTS, 77, progress=done.append)
        be.close()
    finally:
        fake.close()
    assert texts == [f"len {len(p)}" for p in PROMPTS]  # input order, stripped
    assert sum(done) == len(PROMPTS)
    assert len(fake.bodies) == len(PROMPTS) + 1  # the 503 was retried
    path, body = fake.bodies[-1]
    assert path == "/v1/completions"
    assert body["model"] == "student" and body["prompt"] in PROMPTS and "messages" not in body
    assert body["temperature"] == 0 and body["max_tokens"] == 77 and body["repeat_penalty"] == 1.0
    assert set(fake.auth) == {"Bearer sekret"}
    assert fake.peak <= 2


def test_openai_backend_unreachable_server_fails_fast():
    from mathdistill.teachers.llamacpp import free_port

    be = backends.open_backend("openai", "student", base_url=f"http://127.0.0.1:{free_port()}/v1")
    start = time.monotonic()
    with pytest.raises(TeacherError, match="cannot connect"):
        be.generate(PROMPTS[:2], 8)
    assert time.monotonic() - start < 30


@pytest.mark.slow
def test_openai_backend_against_the_llama_cpp_server(smollm_gguf, tmp_path):
    """The real thing: llama-cpp-python's OpenAI-compatible server on the SmolLM2 GGUF. Its greedy
    completions (repeat penalty off) are the texts the in-process llama.cpp backend writes."""
    from mathdistill.evaluate.backends.llamacpp import LlamaCppBackend
    from mathdistill.teachers.llamacpp import LlamaCppServer

    prompts = PROMPTS[:3]
    with LlamaCppServer(smollm_gguf, n_ctx=1024, n_threads=1, log_path=tmp_path / "server.log") as server:
        be = backends.open_backend("openai", "smollm2", base_url=server.base_url, concurrency=2,
                                   extra_body={"repeat_penalty": 1.0})
        served = be.generate(prompts, 32)
    with LlamaCppBackend(str(smollm_gguf), parallel=3, threads=1) as local:
        here = local.generate(prompts, 32)
    assert all(served)
    assert sum(a == b for a, b in zip(served, here)) >= 2, list(zip(served, here))
