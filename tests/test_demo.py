"""`make demo` end to end at toy scale: gold data -> fine-tune -> evaluate -> report, with stage timings."""

import json

import pytest

pytest.importorskip("transformers")

from mathdistill.demo import DemoConfig, run_demo


def test_demo_runs_every_stage_and_records_its_time(tiny_causal, tmp_path):
    said: list[str] = []
    cfg = DemoConfig(out=str(tmp_path / "demo"), model=tiny_causal, train_problems=6, epochs=1, eval_problems=3,
                     max_new_tokens=8)
    report = run_demo(cfg, say=said.append)
    assert report.exists() and report.suffix == ".md"
    assert [s[:5] for s in said if s.startswith("[")] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    metrics = json.loads((tmp_path / "demo" / "smollm2_etd_eval" / "metrics.json").read_text())
    by_thought = metrics["splits"]["svamp:test"]["by_thought"]
    assert set(by_thought) == {"cot", "pot", "eot"} and all(b["n"] == 3 for b in by_thought.values())
    timing = json.loads((tmp_path / "demo" / "timing.json").read_text())
    assert list(timing["seconds"]) == ["data", "train", "evaluate", "report"]
    assert timing["total_seconds"] == pytest.approx(sum(timing["seconds"].values()), abs=0.2)
    assert timing["config"]["train_problems"] == 6
