"""generate: the OpenAI-compatible client, resume after SIGKILL, the gold teacher; build-dataset."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from fake_openai import FakeOpenAI
from mathdistill.distill.dataset import BuildConfig, build_dataset
from mathdistill.teachers.jobs import GenerateConfig, run_generate
from mathdistill.teachers.openai_compat import OpenAICompatTeacher, TeacherError


def test_client_retries_on_503_then_succeeds():
    with FakeOpenAI(fail_first=2) as server:
        async def go():
            async with OpenAICompatTeacher(server.base_url, "fake", max_retries=3) as t:
                return await t.complete([{"role": "user", "content": "hi"}], sample=2)
        c = asyncio.run(go())
    assert c.text.startswith("ans = 1") and c.tokens == 7
    assert len(server.requests) == 3 and server.requests[-1]["seed"] == 2


def test_client_gives_up_with_the_server_message():
    with FakeOpenAI(fail_first=100, status=400) as server:
        async def go():
            async with OpenAICompatTeacher(server.base_url, "fake", max_retries=2) as t:
                return await t.complete([{"role": "user", "content": "hi"}])
        with pytest.raises(TeacherError, match="HTTP 400"):
            asyncio.run(go())


def _count(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return Counter((r["id"], r["thought"], r["sample"]) for r in rows), rows


@pytest.mark.parametrize("bad, message", [
    ({"teacher": "vllm"}, "teacher: expected 'gold', 'openai' or 'llamacpp', got 'vllm'"),
    ({"threads": 0}, "threads: expected a number >= 1, got 0"),
    ({"teacher": "llamacpp"}, "needs model"),
    ({"thoughts": ["tot"]}, r"thoughts\[0\]: expected 'cot', 'pot' or 'eot', got 'tot'")])
def test_generate_config_names_what_is_wrong(bad, message):
    from mathdistill.config import validated

    with pytest.raises(ValueError, match=message):
        validated(GenerateConfig(**bad))


@pytest.mark.timeout(300)
def test_generate_survives_sigkill_and_resumes_without_duplicates(tmp_path):
    out = tmp_path / "raw.jsonl"
    args = [sys.executable, "-m", "mathdistill", "generate", "--teacher", "openai", "--model", "fake",
            "--split", "svamp:test", "--limit", "60", "--thoughts", "pot,eot", "--concurrency", "4",
            "--out", str(out)]
    # the server answers 30 requests and holds the rest, so the kill lands mid-run whatever the timing
    with FakeOpenAI(hold_after=30) as server:
        args += ["--base-url", server.base_url]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None and (not out.exists() or out.read_text().count("\n") < 30):
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first, _ = _count(out)
        assert sum(first.values()) == 30 and set(first.values()) == {1}, "every answered request, once"
        server.release()
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "90 new records (30 were already there)" in done.stdout
    counts, rows = _count(out)
    assert len(counts) == 120 and set(counts.values()) == {1}, "every (problem, thought) exactly once"
    assert set(counts) >= set(first), "nothing written before the kill was lost"
    assert all(r["text"].startswith("ans = 1") for r in rows)


def test_torn_last_line_is_repaired(tmp_path):
    out = tmp_path / "raw.jsonl"
    cfg = GenerateConfig(teacher="gold", splits=["svamp:test"], limit=5, thoughts=["eot"], out=str(out))
    run_generate(cfg)
    text = out.read_text()
    out.write_text(text + '{"id": "svamp/test/chal-9", "thou')  # a kill mid-write
    cfg.limit = 8
    stats = run_generate(cfg)
    counts, _ = _count(out)
    assert stats.already_done == 5 and stats.generated == 3 and len(counts) == 8


def test_gold_generate_then_build_dataset(tmp_path):
    raw = tmp_path / "raw.jsonl"
    run_generate(GenerateConfig(teacher="gold", splits=["mawps-asdiv-a:train"], limit=40, out=str(raw)))
    # a wrong rationale and a duplicate: the first is rejected, the second dropped
    with open(raw, "a") as f:
        f.write(json.dumps({"id": "mawps-asdiv-a/train/0", "thought": "pot", "text": "ans = 3", "teacher": "bad"}) + "\n")
        f.write(json.dumps({"id": "mawps-asdiv-a/train/0", "thought": "cot", "text": "56 * 9 = 504. The answer is 504.",
                            "teacher": "gold"}) + "\n")
    report = build_dataset(BuildConfig(inputs=[str(raw)], out=str(tmp_path / "etd.jsonl"), eval_splits=["svamp:test"]))
    by = report["by_thought_teacher"]
    assert by["pot|bad"]["kept"] == 0 and "rejected: wrong value" in by["pot|bad"]["losses"]
    assert by["cot|gold"]["losses"].get("duplicate") == 1
    rows = [json.loads(line) for line in open(tmp_path / "etd.jsonl")]
    assert {r["thought"] for r in rows} == {"cot", "pot", "eot"}
    assert all(r["prompt"].endswith(r["instruction"] + "\n") for r in rows)
    import datasets

    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "etd.jsonl"), split="train")
    assert len(loaded) == len(rows) and "completion" in loaded.column_names


def test_contamination_guard_refuses_eval_problems(tmp_path):
    raw = tmp_path / "raw.jsonl"
    run_generate(GenerateConfig(teacher="gold", splits=["mawps:test"], limit=10, thoughts=["eot"], out=str(raw)))
    report = build_dataset(BuildConfig(inputs=[str(raw)], out=str(tmp_path / "etd.jsonl"), eval_splits=["mawps:test"]))
    assert report["rows"] == 0 and report["contaminated_problems_refused"] == 10
