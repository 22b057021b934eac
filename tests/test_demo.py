"""`make demo` end to end at toy scale: gold data -> fine-tune -> evaluate -> report, with stage timings."""

import json

import pytest
import torch

pytest.importorskip("transformers")

from mathdistill.demo import DemoConfig, run_demo


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory) -> str:
    """A 2-layer random Llama with SmolLM2's tokenizer: the pipeline, not the accuracy, is under test."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from mathdistill.distill.train import load_tokenizer
    from mathdistill.models import resolve_hf

    tok = load_tokenizer(resolve_hf("smollm2-135m"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                                         bos_token_id=tok.eos_token_id))
    out = tmp_path_factory.mktemp("demo_student") / "tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def test_demo_runs_every_stage_and_records_its_time(tiny_student, tmp_path):
    said: list[str] = []
    cfg = DemoConfig(out=str(tmp_path / "demo"), model=tiny_student, train_problems=6, epochs=1, eval_problems=3,
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
