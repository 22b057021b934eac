"""`make demo` end to end at toy scale: gold data -> measure and size -> fine-tune -> evaluate -> report,
with stage timings, the machine and the plan."""

import json

import pytest

pytest.importorskip("transformers")

from mathdistill import demo, demo_plan
from mathdistill.demo import DemoConfig, Limits, Throughput, run_demo

STAGES = ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]


@pytest.mark.slow  # every stage of the demo, on the tiny student
def test_demo_runs_every_stage_and_records_its_time(tiny_causal, tmp_path):
    said: list[str] = []
    cfg = DemoConfig(out=str(tmp_path / "demo"), model=tiny_causal, train_problems=6, epochs=1, eval_problems=3,
                     max_new_tokens=8)

    def no_measuring(*args, **kwargs):
        raise AssertionError("all sizes were given: nothing to measure")

    report = run_demo(cfg, say=said.append, measure=no_measuring)
    assert report.exists() and report.suffix == ".md"
    assert [s[:5] for s in said if s.startswith("[")] == STAGES
    metrics = json.loads((tmp_path / "demo" / "smollm2_etd_eval" / "metrics.json").read_text())
    by_thought = metrics["splits"]["svamp:test"]["by_thought"]
    assert set(by_thought) == {"cot", "pot", "eot"} and all(b["n"] == 3 for b in by_thought.values())
    assert {"cpu", "class", "features", "precision"} <= set(metrics["machine"])  # every result records its machine
    assert metrics["training"]["machine"]["precision"] == metrics["machine"]["precision"]
    timing = json.loads((tmp_path / "demo" / "timing.json").read_text())
    assert list(timing["seconds"]) == ["data", "measure", "train", "evaluate", "report"]
    assert timing["total_seconds"] == pytest.approx(sum(timing["seconds"].values()), abs=0.2)
    assert timing["config"]["train_problems"] == 6 and timing["plan"]["why"] == "given"
    assert timing["trained"]["problems"] == 6 and timing["machine"]["precision"] in ("fp32", "bf16 autocast")
    assert "demo-size student" in report.read_text() and "flagship" in timing["how_trained"]


@pytest.mark.slow  # every stage of the demo twice, on the tiny student
def test_demo_sizes_itself_from_a_measurement_and_a_rerun_keeps_the_plan(tiny_causal, tmp_path, monkeypatch):
    """A slow machine (fake measurement): the training size drops to the floor, the evaluation to its
    minimum, and the report says so. A rerun reuses the stored plan instead of measuring again."""
    monkeypatch.setattr(demo_plan, "LIMITS", Limits(full_train=8, min_train=4, full_eval=4, min_eval=2, round_to=1))
    calls = []

    def slow_machine(model, data, **kwargs):
        calls.append((model, data, kwargs))
        return Throughput(tokens_per_second=60.0, tokens_per_problem=200.0, steps=2, tokens=2400, seconds=40.0,
                          warmup_seconds=25.0, batch_size=16)

    said: list[str] = []
    cfg = DemoConfig(out=str(tmp_path / "demo"), model=tiny_causal, budget_minutes=0.1, total_minutes=1,
                     max_new_tokens=8, bf16="false")
    report = run_demo(cfg, say=said.append, measure=slow_machine)
    assert len(calls) == 1 and calls[0][2]["bf16"] == "false"
    assert any("fp32 at 60 tokens/s: training on 4 problems, 2 epochs" in s for s in said)
    timing = json.loads((tmp_path / "demo" / "timing.json").read_text())
    assert timing["plan"]["why"] == "floor" and timing["plan"]["eval_problems"] == 2
    assert timing["measured"]["tokens_per_second"] == 60.0 and timing["machine"]["precision"] == "fp32"
    assert timing["trained"]["problems"] == 4 and timing["trained"]["epochs"] == 2
    text = report.read_text()
    assert "## How this demo's student was trained" in text and "first 4 problems" in text
    assert "0.1-minute training budget" in text
    assert "How this demo" in (report.parent / "report.html").read_text()

    said.clear()
    run_demo(cfg, say=said.append, measure=slow_machine)
    assert len(calls) == 1 and any("reusing the plan" in s for s in said)


def test_measuring_runs_real_training_steps(tiny_causal, tmp_path):
    """The probe goes through the project's Trainer; only its bookkeeping is checked, not its speed."""
    rows = [{"id": f"p{i}", "thought": t, "question": f"Tom has {i} apples and gets {i + 1} more. How many?",
             "completion": f"ans = {i} + {i + 1}" + " + 0" * (i % 5)} for i in range(12) for t in ("cot", "pot", "eot")]
    data = tmp_path / "etd.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = demo.measure_training(tiny_causal, str(data), bf16="false", batch_size=4, max_steps=4, min_seconds=0)
    assert got.steps == 1 and got.batch_size == 4  # one warm-up, then stopped once min_seconds passed
    assert got.tokens > 0 and got.seconds > 0 and got.tokens_per_second == pytest.approx(got.tokens / got.seconds, rel=0.01)
    assert 20 < got.tokens_per_problem < 200


def test_evaluation_backend_falls_back_to_transformers_and_says_why(monkeypatch, tmp_path):
    """auto: llama.cpp where it works; where the bindings are missing (or conversion fails), transformers,
    with the reason printed. An explicit choice is kept without trying anything."""
    from mathdistill.models import ModelError
    from mathdistill.models import to_gguf

    said: list[str] = []
    assert demo.eval_backend("transformers", str(tmp_path), said.append) == "transformers" and not said

    def missing():
        raise ModelError("llama-cpp-python is not installed")

    monkeypatch.setattr(to_gguf, "import_llama_cpp", missing)
    assert demo.eval_backend("auto", str(tmp_path), said.append) == "transformers"
    assert "not installed" in said[-1] and "transformers" in said[-1]

    gguf = tmp_path / "student.f16.gguf"
    gguf.write_bytes(b"x" * 2_000_000)
    monkeypatch.setattr(to_gguf, "import_llama_cpp", lambda: None)
    monkeypatch.setattr(to_gguf, "gguf_for", lambda model, quant: gguf)
    assert demo.eval_backend("auto", str(tmp_path), said.append) == "llamacpp" and "f16 GGUF (2 MB" in said[-1]

    def no_converter(model, quant):
        raise ModelError("could not download the llama-cpp-python source distribution")

    monkeypatch.setattr(to_gguf, "gguf_for", no_converter)
    assert demo.eval_backend("auto", str(tmp_path), said.append) == "transformers" and "could not download" in said[-1]
