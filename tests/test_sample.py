"""`mathdistill sample`: seeded temperature sampling in the backends, k verified candidates per thought
per problem (labels from `verify` only), resume, and the summary (pass@k, the agreement baseline)."""

import json
import threading
from dataclasses import replace
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
from fake_openai import JSONHandler

from mathdistill import datasets as ds
from mathdistill.config import ConfigError
from mathdistill.evaluate import backends
from mathdistill.evaluate.backends.sampling import pick
from mathdistill.evaluate.candidates import (SampleConfig, candidate_seed, majority, run_sample,
                                             summarize_candidates)
from mathdistill.jsonl import RecordError
from mathdistill.thoughts import INSTRUCTIONS, student_prompt

PROMPTS = ["Question: 1 + 1?\nLet's think step by step.\n",
           "Question: A much longer question about many apples and pears and a basket?\nSystem:\n",
           "Question: 7?\n"]


# ---------------------------------------------------------------------------------------------
# sampling: one token from logits


def test_pick_is_argmax_at_zero_and_a_seeded_softmax_draw_above():
    logits = np.array([1.0, 3.0, 2.0, -np.inf], dtype=np.float32)
    assert pick(logits, 0.0, np.random.default_rng(0)) == 1
    draws = [pick(logits, 1.0, rng) for rng in [np.random.default_rng(7)] for _ in range(3000)]
    again = [pick(logits, 1.0, rng) for rng in [np.random.default_rng(7)] for _ in range(3000)]
    assert draws == again  # one seed, one stream
    counts = np.bincount(draws, minlength=4) / len(draws)
    want = np.exp([1.0, 3.0, 2.0]) / np.exp([1.0, 3.0, 2.0]).sum()
    assert counts[3] == 0  # a masked token is never drawn
    assert np.allclose(counts[:3], want, atol=0.03)
    # a low temperature is nearly greedy, a high one nearly uniform over the unmasked tokens
    cold = [pick(logits, 0.05, rng) for rng in [np.random.default_rng(1)] for _ in range(200)]
    assert set(cold) == {1}
    hot = np.bincount([pick(logits, 100.0, rng) for rng in [np.random.default_rng(1)] for _ in range(3000)],
                      minlength=4) / 3000
    assert np.allclose(hot[:3], 1 / 3, atol=0.04) and hot[3] == 0


def test_candidate_seeds_are_stable_distinct_and_fit_every_server():
    seeds = {candidate_seed(0, pid, t, j) for pid in ("a", "b") for t in ("cot", "pot") for j in range(4)}
    assert len(seeds) == 16 and all(0 <= s < 2 ** 31 for s in seeds)
    assert candidate_seed(0, "a", "cot", 1) == candidate_seed(0, "a", "cot", 1) != candidate_seed(1, "a", "cot", 1)


# ---------------------------------------------------------------------------------------------
# the transformers backend (tiny random model, real tokenizer)


def test_transformers_sampling_is_seeded_per_prompt_and_greedy_at_zero(tiny_causal):
    from mathdistill.distill.student import load_student
    from mathdistill.evaluate.backends.hf import generate

    student = load_student(tiny_causal, bf16=False)
    greedy = generate(student, PROMPTS, batch_size=3, max_new_tokens=8)
    assert generate(student, PROMPTS, batch_size=3, max_new_tokens=8, temperature=0.0, seeds=[5, 6, 7]) == greedy
    a = generate(student, PROMPTS, batch_size=3, max_new_tokens=8, temperature=1.0, seeds=[1, 2, 3])
    assert generate(student, PROMPTS, batch_size=3, max_new_tokens=8, temperature=1.0, seeds=[1, 2, 3]) == a
    b = generate(student, PROMPTS, batch_size=3, max_new_tokens=8, temperature=1.0, seeds=[4, 5, 6])
    assert a != b and a != greedy and all(a)
    # a sample depends on its own prompt and seed, not on the batch it shares or its place in the call
    alone = [generate(student, [p], batch_size=1, max_new_tokens=8, temperature=1.0, seeds=[s])[0]
             for p, s in zip(PROMPTS, [1, 2, 3])]
    assert alone == a
    assert generate(student, PROMPTS[::-1], batch_size=2, max_new_tokens=8, temperature=1.0,
                    seeds=[3, 2, 1]) == a[::-1]
    # the same prompt with k seeds gives k different samples
    same = generate(student, [PROMPTS[0]] * 4, batch_size=4, max_new_tokens=8, temperature=1.0, seeds=[0, 1, 2, 3])
    assert len(set(same)) > 1
    with pytest.raises(ValueError, match="one per prompt"):
        generate(student, PROMPTS, max_new_tokens=4, temperature=1.0, seeds=[1])
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate(student, PROMPTS, max_new_tokens=4, temperature=-1.0)


# ---------------------------------------------------------------------------------------------
# the OpenAI-compatible backend


def test_openai_backend_sends_the_temperature_and_each_prompts_seed():
    bodies = []

    class Handler(JSONHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            self._send(200, {"choices": [{"text": f" {body['prompt'][-5:]}", "finish_reason": "stop"}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        be = backends.open_backend("openai", "student", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                                   concurrency=2)
        sampled = be.generate(PROMPTS, 9, temperature=0.7, seeds=[11, 12, 13])
        greedy_bodies = len(bodies)
        be.generate(PROMPTS[:1], 9)
    finally:
        server.shutdown()
        server.server_close()
    assert sampled == [p[-5:].strip() for p in PROMPTS]
    assert sorted((b["prompt"], b["temperature"], b["seed"]) for b in bodies[:greedy_bodies]) == \
        sorted(zip(PROMPTS, [0.7] * 3, [11, 12, 13]))
    assert bodies[-1]["temperature"] == 0 and "seed" not in bodies[-1]  # greedy requests are as before


# ---------------------------------------------------------------------------------------------
# llama.cpp (a real GGUF: slow)


@pytest.mark.slow
def test_llamacpp_sampling_is_seeded_per_prompt():
    """Each prompt draws from its own stream: one at a time (parallel=1) and all six in one batch
    write the same samples. Not asserted: parallel=4 over these six prompts, where a prompt starts
    beside sequences already 12+ tokens along; there its logits differ by up to ~0.03 after a dozen
    tokens (measured: 2 of 6 prompts, the same greedy texts, one sampled text differed), so a sample
    can change with the batch even though its random stream does not."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make llamacpp)")
    from mathdistill.evaluate.backends.llamacpp import LlamaCppBackend
    from mathdistill.models.to_gguf import gguf_for

    gguf = str(gguf_for("smollm2-135m", "f16"))
    prompts = [student_prompt("Ann has 3 apples and buys 4 more. How many apples does she have?", t)
               for t in INSTRUCTIONS] * 2
    seeds = list(range(len(prompts)))
    with LlamaCppBackend(gguf, parallel=1, threads=1) as one:
        alone = one.generate(prompts, 24, temperature=0.8, seeds=seeds)
        greedy = one.generate(prompts[:2], 24)
    with LlamaCppBackend(gguf, parallel=len(prompts), threads=1) as six:
        together = six.generate(prompts, 24, temperature=0.8, seeds=seeds)
        assert six.generate(prompts, 24, temperature=0.8, seeds=seeds) == together  # reproducible
        assert six.generate(prompts[:2], 24, temperature=0.0, seeds=[9, 9]) == greedy
        other = six.generate(prompts, 24, temperature=0.8, seeds=[s + 100 for s in seeds])
    assert together == alone and all(alone)
    assert other != alone
    assert alone[:3] != alone[3:]  # the same prompts under other seeds


# ---------------------------------------------------------------------------------------------
# run_sample: labels, resume, refusal of another run's file


class FakeBackend:
    """Writes a text chosen by (thought, problem) and records every prompt and seed it was given."""

    name, model = "fake", "fake"

    def __init__(self, write, calls):
        self.write, self.calls = write, calls

    def generate(self, prompts, max_new_tokens, progress=None, *, temperature=0.0, seeds=None):
        self.calls.append((list(prompts), list(seeds), temperature))
        if progress:
            progress(len(prompts))
        return [self.write(p, s) for p, s in zip(prompts, seeds)]

    def close(self):
        pass


def _thought(prompt: str) -> str:
    return next(t for t, text in INSTRUCTIONS.items() if prompt.endswith(text + "\n"))


def _fake(monkeypatch, write) -> list:
    calls: list = []
    monkeypatch.setattr(backends, "open_backend", lambda kind, model, **kw: FakeBackend(write, calls))
    return calls


def _rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]


def test_candidates_are_labelled_by_verification_against_gold(monkeypatch, tmp_path):
    problems = ds.load("svamp:test")[:2]

    def write(prompt: str, seed: int) -> str:
        t = _thought(prompt)
        p = next(p for p in problems if student_prompt(p.question, t) == prompt)
        j = [candidate_seed(0, p.id, t, i) for i in range(3)].index(seed)
        answer = p.answer
        return {  # sample 0 right, 1 wrong, 2 no answer at all (a crash, an unsolvable system, no number)
            "pot": [f"ans = {answer}", f"ans = {answer} + 1", "ans = 1 / 0"],
            "eot": [f"ans = {answer}", f"ans = {answer} * 2 + 1", "ans = x + y"],
            "cot": [f"So it is {answer}. The answer is {answer}.", f"The answer is {answer + 1}.", "I do not know."],
        }[t][j]

    calls = _fake(monkeypatch, write)
    cfg = SampleConfig(model="any-model", splits=["svamp:test"], limit=2, k=3, temperature=0.7, out=str(tmp_path),
                       workers=1)
    summary = run_sample(cfg, command="mathdistill sample --k 3")
    rows = _rows(tmp_path)
    assert len(rows) == 2 * 3 * 3 and all(t == 0.7 for _, _, t in calls)
    by = {(r["id"], r["thought"], r["sample"]): r for r in rows}
    for p in problems:
        for t in ("cot", "pot", "eot"):
            assert [by[(p.id, t, j)]["correct"] for j in range(3)] == [True, False, False], (p.id, t)
    pot_crash = by[(problems[0].id, "pot", 2)]
    assert pot_crash["answer"] is None and "ZeroDivisionError" in pot_crash["reason"]
    assert by[(problems[0].id, "pot", 0)]["detail"] == {"stdout": ""}
    assert by[(problems[0].id, "eot", 0)]["detail"]["values"]["ans"] == by[(problems[0].id, "eot", 0)]["answer"]
    assert by[(problems[0].id, "cot", 1)]["detail"]["rule"] and by[(problems[0].id, "cot", 1)]["reason"] != "match"
    assert all(r["model"] == "any-model" and r["fingerprint"] == "any-model" and r["policy"] == "flexible"
               for r in rows)

    s = summary["splits"]["svamp:test"]
    assert s["problems"] == 2 and s["generations_per_problem"] == 9
    assert s["candidates"] == {"n": 18, "correct": 6, "accuracy": 0.3333}
    assert s["by_thought"]["pot"]["pass_at_k"]["accuracy"] == 1.0 and s["pass_at_k"]["correct"] == 2
    # every problem: 3 right answers, 3 distinct wrong ones, 3 without one: the majority is right
    assert s["agreement"]["correct"] == 2 and s["agreement"]["mean_support"] == round(3 / 9, 4)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["command"] == "mathdistill sample --k 3" and written["config"]["k"] == 3
    assert written["splits"] == summary["splits"] and written["generation"]["generated"] == 18


def test_sampling_resumes_after_a_kill_and_refuses_another_runs_file(monkeypatch, tmp_path):
    calls = _fake(monkeypatch, lambda prompt, seed: f"ans = {seed % 7}")
    cfg = SampleConfig(model="any-model", splits=["svamp:test"], thoughts=["pot", "cot"], limit=3, k=2,
                       out=str(tmp_path / "full"), workers=1)
    full = run_sample(cfg)
    assert full["generation"]["generated"] == 12
    want = _rows(tmp_path / "full")

    # killed mid-run: 5 rows written and a torn sixth; the rerun writes exactly the 7 missing ones
    part = tmp_path / "part"
    part.mkdir()
    lines = (tmp_path / "full" / "candidates.jsonl").read_text().splitlines(keepends=True)
    (part / "candidates.jsonl").write_text("".join(lines[:5]) + lines[5][:30])
    calls.clear()
    resumed = run_sample(replace(cfg, out=str(part)))
    assert (resumed["generation"]["generated"], resumed["generation"]["already_done"]) == (7, 5)
    asked = sum(len(prompts) for prompts, _, _ in calls)
    assert asked == 7
    key = lambda r: (r["id"], r["thought"], r["sample"])  # noqa: E731
    assert sorted(_rows(part), key=key) == sorted(want, key=key)  # the same seeds, the same texts and labels
    assert resumed["splits"] == full["splits"]
    calls.clear()
    again = run_sample(replace(cfg, out=str(part)))
    assert again["generation"]["generated"] == 0 and not calls

    # a larger k keeps the candidates of the smaller one and adds the rest
    more = run_sample(replace(cfg, out=str(part), k=3))
    assert more["generation"]["generated"] == 6 and more["splits"]["svamp:test"]["generations_per_problem"] == 6

    # rows of other weights, or another temperature, are refused with the file named
    with pytest.raises(RecordError, match=r"part/candidates.jsonl: .*fingerprint 'any-model' \(this run: 'other'\)"):
        run_sample(replace(cfg, out=str(part), model="other"))
    with pytest.raises(RecordError, match=r"candidates.jsonl: .*temperature 0.7 \(this run: 1.0\)"):
        run_sample(replace(cfg, out=str(part), temperature=1.0))


def test_sample_config_checks():
    from mathdistill.config import load_config, validated

    with pytest.raises(ConfigError, match="k=4 at temperature 0"):
        validated(SampleConfig(temperature=0.0, k=4))
    with pytest.raises(ConfigError, match="temperature: expected a number >= 0"):
        load_config(SampleConfig, overrides={"temperature": -0.5})
    with pytest.raises(ConfigError, match="not both"):
        validated(SampleConfig(limit=2, sample=2))
    assert load_config(SampleConfig, overrides={"k": "3", "thoughts": ["pot"]}).k == 3


def test_temperature_zero_samples_are_the_greedy_predictions(tiny_causal, tmp_path):
    from mathdistill.evaluate.run import EvalConfig, generate_missing

    problems = {"svamp:test": ds.load("svamp:test")[:2]}
    generate_missing(EvalConfig(model=tiny_causal, thoughts=["cot"], limit=2, out=str(tmp_path / "eval"),
                                max_new_tokens=6, bf16=False), problems)
    greedy = {r["id"]: r["text"] for r in map(json.loads, (tmp_path / "eval" / "predictions.jsonl").open())}
    run_sample(SampleConfig(model=tiny_causal, thoughts=["cot"], limit=2, k=1, temperature=0.0,
                            out=str(tmp_path / "s"), max_new_tokens=6, bf16="false", workers=1))
    assert {r["id"]: r["text"] for r in _rows(tmp_path / "s")} == greedy


def test_the_sample_command_runs_and_records_itself(tiny_causal, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mathdistill.cli import app

    args = ["sample", "--model", tiny_causal, "--limit", "1", "--thoughts", "cot,eot", "--k", "2",
            "--max-new-tokens", "4", "--out", str(tmp_path), "--set", "bf16=false", "--set", "temperature=1.5"]
    monkeypatch.setattr("sys.argv", ["mathdistill", *args])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "svamp:test (1 problems x 4 generations)" in result.output and "pass@2" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"].startswith("mathdistill sample --model") and summary["temperature"] == 1.5
    rows = _rows(tmp_path)
    assert len(rows) == 4 and all(isinstance(r["correct"], bool) for r in rows)


# ---------------------------------------------------------------------------------------------
# the summary, on hand-made candidates


def _c(pid, thought, j, answer, correct, split="s:test"):
    return {"id": pid, "split": split, "thought": thought, "sample": j, "answer": answer, "correct": correct}


def test_majority_groups_equal_answers_and_breaks_ties_by_thought():
    assert majority([_c("a", "cot", 0, "4", False), _c("a", "cot", 1, "4.0", False), _c("a", "pot", 0, "5", True)]) \
        == {"answer": "4", "support": 2, "voters": 3, "correct": False}
    # 1 vs 1: the EoT group was opened first (EoT > PoT > CoT), whatever the row order
    assert majority([_c("a", "cot", 0, "4", False), _c("a", "eot", 1, "5", True)])["answer"] == "5"
    assert majority([_c("a", "pot", 0, None, False), _c("a", "cot", 0, "n/a", False)]) == \
        {"answer": None, "support": 0, "voters": 0, "correct": False}


def test_summary_counts_pass_at_k_and_the_agreement_baseline():
    rows = [
        # p1: pot right once of 2, cot wrong twice with one shared answer -> majority wrong (2 vs 1)
        _c("p1", "pot", 0, "7", True), _c("p1", "pot", 1, "8", False),
        _c("p1", "cot", 0, "8", False), _c("p1", "cot", 1, "9", False),
        # p2: all right
        _c("p2", "pot", 0, "3", True), _c("p2", "pot", 1, "3", True),
        _c("p2", "cot", 0, "3", True), _c("p2", "cot", 1, "3", True),
        # p3: nothing right, nothing readable from pot
        _c("p3", "pot", 0, None, False), _c("p3", "pot", 1, None, False),
        _c("p3", "cot", 0, "1", False), _c("p3", "cot", 1, "2", False),
        # p4: incomplete (cot sample 1 missing): left out; a sample beyond k and another thought: ignored
        _c("p4", "pot", 0, "1", True), _c("p4", "pot", 1, "1", True), _c("p4", "cot", 0, "1", True),
        _c("p1", "pot", 2, "7", True), _c("p1", "eot", 0, "7", True),
    ]
    s = summarize_candidates(rows, ["pot", "cot"], k=2)["s:test"]
    assert s["problems"] == 3 and s["incomplete"] == 1 and s["generations_per_problem"] == 4
    assert s["by_thought"]["pot"]["candidates"] == {"n": 6, "correct": 3, "accuracy": 0.5}
    assert s["by_thought"]["pot"]["pass_at_k"] == {"n": 3, "correct": 2, "accuracy": 0.6667}
    assert s["by_thought"]["pot"]["majority"]["correct"] == 2  # p1: 7 vs 8 tie, sample 0 first
    assert s["by_thought"]["cot"]["candidates"]["correct"] == 2 and s["by_thought"]["cot"]["pass_at_k"]["correct"] == 1
    assert s["candidates"] == {"n": 12, "correct": 5, "accuracy": 0.4167}
    assert s["pass_at_k"] == {"n": 3, "correct": 2, "accuracy": 0.6667}
    assert {k: s["agreement"][k] for k in ("n", "correct")} == {"n": 3, "correct": 1}  # only p2
    # p1: "8" 2 of 4; p2: 4 of 4; p3: 1 of 4 (a tie of singletons)
    assert s["agreement"]["mean_support"] == round((2 + 4 + 1) / 12, 4)
    # wanted ids of a split restrict the summary; a wanted split without rows is there, empty
    some = summarize_candidates(rows, ["pot", "cot"], k=2, wanted={"s:test": {"p2"}, "t:test": {"x"}})
    assert some["s:test"]["problems"] == 1 and some["s:test"]["agreement"]["accuracy"] == 1.0
    assert some["t:test"]["problems"] == 0
