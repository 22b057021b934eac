"""The `mathdistill` command from the outside: every command's main path and its bad input.

Each command runs as a subprocess of the installed entry point (`mathdistill.cli:main`), the one a
user runs: it turns a user error into one line on stderr starting with `error:` and exit code 2,
never a traceback. Students are the tiny random models of conftest.py; data is the real benchmarks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toy_rows import TOY_ETD_ROWS

MATHDISTILL = Path(sys.executable).with_name("mathdistill")  # the console script next to this Python
COMMAND = [str(MATHDISTILL)] if MATHDISTILL.exists() else [sys.executable, "-m", "mathdistill"]


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    """Commands run in a scratch directory: a default path (runs/...) never touches the checkout."""
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr[-3000:]}"
    return p


def user_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    """The command refused its input the contracted way; returns the message."""
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stderr[-3000:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"want one 'error:' line on stderr, got:\n{p.stderr}"
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------------------- data


def test_data_show_prints_one_problem():
    p = ok(run("data", "show", "svamp/test/chal-1"))
    problem = json.loads(p.stdout)
    assert problem["id"] == "svamp/test/chal-1" and problem["answer"] == 51
    assert "Each pack of dvds costs 76 dollars" in problem["question"]


def test_data_export_contract(tmp_path):
    out = tmp_path / "svamp.jsonl"
    ok(run("data", "export", "svamp:test", "--out", out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1000
    assert {"id", "dataset", "split", "question", "answer"} <= set(rows[0])
    assert rows[0]["id"] == "svamp/test/chal-1" and rows[0]["answer"] == 51
    stdout = ok(run("data", "export", "mawps:test")).stdout.splitlines()  # no --out: JSONL on stdout
    assert len(stdout) == 238 and json.loads(stdout[0])["id"].startswith("mawps/test/")


def test_data_stats():
    stats = json.loads(ok(run("data", "stats", "svamp:test", "--json")).stdout)["svamp:test"]
    assert stats["n"] == 1000 and stats["with_equation"] == 1000 and stats["operators"]["-"] > 0
    table = ok(run("data", "stats", "mawps:test")).stdout
    assert "mawps:test" in table and "238" in table


@pytest.mark.slow  # loads every split of every dataset (~15 s)
def test_data_list():
    p = ok(run("data", "list"))
    counts = dict(line.split()[:2] for line in p.stdout.splitlines() if line.strip())
    assert counts["gsm8k:test"] == "1319" and counts["svamp:test"] == "1000" and counts["math23k:test"] == "1000"


@pytest.mark.parametrize("args, root, message", [
    (("data", "export", "nope:test"), None, "unknown dataset 'nope'"),
    (("data", "export", "gsm8k:dev"), None, "unknown split gsm8k:dev"),
    (("data", "export", "gsm8k:test"), "/nonexistent/root", "looked in: /nonexistent/root/gsm8k/test.jsonl"),
    (("data", "show", "svamp/test/nope"), None, "no problem with id"),
    (("data", "show", "nope/test/1"), None, "unknown dataset 'nope'"),
    (("data", "stats", "gsm8k:dev"), None, "unknown split gsm8k:dev"),
    (("data", "list"), "/nonexistent/root", "/nonexistent/root"),
])
def test_data_bad_input(args, root, message):
    user_error(run(*args, env={"MATHDISTILL_DATA": root} if root else None), message)


@pytest.mark.parametrize("args", [("data", "show"), ("data", "list", "extra"), ("score", "svamp:test", "--nope")])
def test_usage_errors_exit_2_without_a_traceback(args):
    # click's own usage errors (missing argument, unknown option): its usage text, exit 2
    p = run(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "Usage:" in p.stderr


# ------------------------------------------------------------------------------------------ score


SCORE_RECORDS = [  # svamp/test/chal-1: 76 - 25 = 51
    {"id": "svamp/test/chal-1", "thought": "cot", "text": "76 - 25 = 51. The answer is 51."},
    {"id": "svamp/test/chal-1", "thought": "pot", "text": "cost = 76\ndiscount = 25\nans = cost - discount"},
    {"id": "svamp/test/chal-1", "thought": "eot", "text": "ans + 25 = 76"},
    {"id": "svamp/test/chal-1", "thought": "pot", "text": "ans = 76 + 25"},
]


def test_score_json_contract(tmp_path):
    records = write_jsonl(tmp_path / "r.jsonl", SCORE_RECORDS)
    verdicts = tmp_path / "verdicts.jsonl"
    p = ok(run("score", "svamp:test", "--input", records, "--json", "--out", verdicts))
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints one JSON object"
    summary = json.loads(lines[0])
    assert (summary["n"], summary["correct"], summary["accuracy"]) == (4, 3, 0.75)
    assert set(summary["by_thought"]) == {"cot", "pot", "eot"}
    for thought, want in (("cot", (1, 1, 1.0)), ("pot", (2, 1, 0.5)), ("eot", (1, 1, 1.0))):
        block = summary["by_thought"][thought]
        assert (block["n"], block["correct"], block["accuracy"]) == want
    assert summary["cot_policy"] == "flexible" and summary["failures"]["pot"] == {"wrong value": 1}
    graded = [json.loads(line) for line in verdicts.read_text().splitlines()]
    assert [v["correct"] for v in graded] == [True, True, True, False]


def test_score_text_summary_and_strict_policy(tmp_path):
    records = write_jsonl(tmp_path / "r.jsonl", [{"id": "svamp/test/chal-1", "thought": "cot", "text": "76 - 25 = 51"}])
    assert "1/1 correct" in ok(run("score", "svamp:test", "--input", records)).stdout  # flexible: last "= number"
    strict = ok(run("score", "svamp:test", "--input", records, "--policy", "strict")).stdout
    assert "0/1 correct" in strict and "CoT policy strict" in strict  # strict: needs "The answer is"


@pytest.mark.parametrize("as_json", [True, False])  # without --json: refused before a progress bar is drawn
def test_score_unknown_id_is_one_line_naming_file_and_line(tmp_path, as_json):
    records = write_jsonl(tmp_path / "r.jsonl", [SCORE_RECORDS[0], {**SCORE_RECORDS[1], "id": "svamp/test/nope"}])
    p = run("score", "svamp:test", "--input", records, *(["--json"] if as_json else []))
    user_error(p, f"{records}:2", "unknown id 'svamp/test/nope'")
    assert p.stdout == ""


def test_score_records_of_another_split_are_unknown_ids(tmp_path):
    records = write_jsonl(tmp_path / "r.jsonl", [{"id": "gsm8k/test/0", "thought": "pot", "text": "ans = 18"}])
    user_error(run("score", "svamp:test", "--input", records), "unknown id 'gsm8k/test/0'")


@pytest.mark.parametrize("line, message", [
    ('{"id": "svamp/test/chal-1", "thought": "pot", "te', "not valid JSON"),
    ('["svamp/test/chal-1", "pot", "ans = 51"]', "expected a JSON object"),
    ('{"id": "svamp/test/chal-1", "text": "ans = 51"}', "lacks thought"),
    ('{"id": "svamp/test/chal-1", "thought": "tot", "text": "ans = 51"}', "unknown thought 'tot'"),
])
def test_score_malformed_line_is_one_line_naming_file_and_line(tmp_path, line, message):
    records = write_jsonl(tmp_path / "r.jsonl", [SCORE_RECORDS[0], line, SCORE_RECORDS[1]])
    p = run("score", "svamp:test", "--input", records, "--json")
    user_error(p, f"{records}:2", message)
    assert p.stdout == ""


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_score_refuses_an_input_without_records(tmp_path, content):
    records = tmp_path / "empty.jsonl"
    records.write_text(content)
    user_error(run("score", "svamp:test", "--input", records, "--json"), str(records), "no records")


def test_score_bad_arguments(tmp_path):
    user_error(run("score", "svamp:test", "--input", tmp_path / "missing.jsonl", "--json"), "missing.jsonl")
    records = write_jsonl(tmp_path / "r.jsonl", SCORE_RECORDS[:1])
    user_error(run("score", "nope:test", "--input", records, "--json"), "unknown dataset 'nope'")
    user_error(run("score", "svamp:test", "--input", records, "--policy", "loose"), "policy")


# ------------------------------------------------------------------------------------------- gold


def test_gold_converts_verifies_and_writes(tmp_path):
    out, report = tmp_path / "gold.jsonl", tmp_path / "yield"
    p = ok(run("gold", "mawps:test", "--thoughts", "eot,pot", "--out", out, "--report", report))
    assert "| mawps:test | eot | 238 |" in p.stdout
    table = json.loads(report.with_suffix(".json").read_text())["mawps:test"]
    assert set(table) == {"eot", "pot"} and table["eot"]["problems"] == 238 and table["eot"]["yield"] > 0.95
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["thought"] for r in rows} == {"eot", "pot"}
    assert len(rows) == table["eot"]["verified"] + table["pot"]["verified"]


@pytest.mark.parametrize("args, message", [(("nope:test",), "unknown dataset 'nope'"),
                                           (("svamp:test", "--thoughts", "tot"), "thoughts")])
def test_gold_bad_input(args, message):
    user_error(run("gold", *args), message)


# -------------------------------------------------------------------------------------- generate


def test_generate_with_the_gold_teacher_resumes(tmp_path):
    out = tmp_path / "raw.jsonl"
    args = ("generate", "--teacher", "gold", "--split", "svamp:test", "--limit", "3", "--thoughts", "pot,eot",
            "--out", out)
    assert "6 new records (0 were already there)" in ok(run(*args)).stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and {(r["id"], r["thought"]) for r in rows} == {
        (f"svamp/test/chal-{i}", t) for i in (1, 2, 3) for t in ("pot", "eot")}
    assert "0 new records (6 were already there)" in ok(run(*args)).stdout
    assert len(out.read_text().splitlines()) == 6


def test_generate_bad_input(tmp_path):
    out = tmp_path / "raw.jsonl"
    user_error(run("generate", "--teacher", "vllm", "--out", out), "teacher")
    user_error(run("generate", "--teacher", "gold", "--split", "nope:test", "--out", out), "unknown dataset 'nope'")
    user_error(run("generate", "--teacher", "llamacpp", "--out", out), "model")
    assert not out.exists()


# --------------------------------------------------------------------------------- build-dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """build-dataset on raw rationales of the SVAMP paper's training set, guarded against MAWPS test.

    That training set holds MAWPS test questions: mawps-asdiv-a/train/65 writes "$9" where mawps/test/145
    writes "$9.00" (the same text once numbers are normalised), and mawps-asdiv-a/train/113 says "she" where
    mawps/test/1938 says "Lucy" (a near duplicate). mawps-asdiv-a/train/0 and /1 are in no evaluation split."""
    tmp = tmp_path_factory.mktemp("build")
    raw = write_jsonl(tmp / "raw.jsonl", [
        {"id": "mawps-asdiv-a/train/0", "thought": "cot", "text": "56 * 9 = 504. The answer is 504.", "teacher": "t"},
        {"id": "mawps-asdiv-a/train/0", "thought": "pot", "text": "ans = 56 * 9", "teacher": "t"},
        {"id": "mawps-asdiv-a/train/0", "thought": "eot", "text": "ans = 56 * 9", "teacher": "t"},
        {"id": "mawps-asdiv-a/train/65", "thought": "eot", "text": "ans = 9 * 4", "teacher": "t"},
        {"id": "mawps-asdiv-a/train/113", "thought": "eot", "text": "ans = 280 - 212", "teacher": "t"},
        {"id": "mawps-asdiv-a/train/1", "thought": "pot", "text": "ans = 27 + 16", "teacher": "t"},  # wrong: 432
    ])
    out = tmp / "etd.jsonl"
    return run("build-dataset", "--input", raw, "--out", out, "--set", "eval_splits=[mawps:test]"), out


def test_build_dataset_refuses_questions_of_another_evaluation_split(built):
    p, out = built
    ok(p)
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["contaminated_problems_refused"] == 2 and "2 problems refused" in p.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["thought"]) for r in rows] == [("mawps-asdiv-a/train/0", t) for t in ("cot", "pot", "eot")]
    assert all(r["prompt"].endswith(r["instruction"] + "\n") for r in rows)
    assert report["by_thought_teacher"]["pot|t"]["losses"] == {"rejected: wrong value": 1}


def test_build_dataset_reasons_count_the_refused_problems(built):
    p, out = built
    ok(p)
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["contamination_reasons"] == {"same text": 1, "near duplicate": 1}


def test_build_dataset_bad_input(tmp_path):
    out = tmp_path / "etd.jsonl"
    user_error(run("build-dataset", "--input", tmp_path / "missing.jsonl", "--out", out), "missing.jsonl")
    raw = write_jsonl(tmp_path / "raw.jsonl", [SCORE_RECORDS[0], "{not json", SCORE_RECORDS[1]])
    user_error(run("build-dataset", "--input", raw, "--out", out), f"{raw}:2")
    assert not out.exists()


# ------------------------------------------------------------------------------- configs, --set


def test_config_file_errors_are_one_line(tmp_path):
    user_error(run("train", tmp_path / "missing.yaml"), "config file not found", "missing.yaml")
    sections = tmp_path / "sections.yaml"  # a multi-stage experiment file: each command reads its own section
    sections.write_text("generate:\n  teacher: gold\ntrain:\n  epochs: many\n")
    user_error(run("train", sections), "epochs: expected an integer, got 'many'")
    sections.write_text("generate:\n  teacher: gold\ntrain:\n  modle: smollm2-135m\n")
    msg = user_error(run("train", sections), "sections.yaml", "modle", "known:")
    assert "model" in msg.split("known:")[1] and "epochs" in msg.split("known:")[1]


def test_config_file_with_fields_at_top_level(tmp_path):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("modle: smollm2-135m\n")
    user_error(run("train", unknown), "unknown.yaml", "modle", "known:")
    top = tmp_path / "top.yaml"
    top.write_text(f"data: [{tmp_path / 'missing.jsonl'}]\n")
    user_error(run("train", top), "missing.jsonl")


def test_config_file_that_is_not_yaml_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    user_error(run("train", bad), "bad.yaml", "not valid YAML")


@pytest.mark.parametrize("command", ["train", "evaluate", "generate", "build-dataset", "demo"])
def test_unknown_set_key_names_the_valid_ones(command):
    msg = user_error(run(command, "--set", "nope=1"), "nope", "known:")
    assert "out" in msg.split("known:")[1]


@pytest.mark.parametrize("command", ["train", "evaluate", "generate"])
@pytest.mark.parametrize("pair", ["epochs", "=3", "epochs:3"])
def test_set_must_be_key_value(command, pair):
    user_error(run(command, "--set", pair), repr(pair), "key=value")


# `--set` values are type-checked when the command line is read, before any work (nothing is written)
@pytest.mark.parametrize("command, pair, message", [
    ("train", "epochs=foo", "epochs: expected an integer, got 'foo'"),
    ("evaluate", "batch_size=foo", "batch_size: expected an integer, got 'foo'"),
    ("generate", "samples=foo", "samples: expected an integer, got 'foo'"),
])
def test_set_values_are_type_checked_before_any_work(tmp_path, command, pair, message):
    out = tmp_path / "out"
    user_error(run(command, "--out", out, "--set", pair), message)
    assert not out.exists()


def test_set_epochs_is_not_an_evaluate_field():
    user_error(run("evaluate", "--set", "epochs=foo"), "unknown field(s) epochs", "known:")


# ------------------------------------------------------------------------ train, evaluate, report

ETD_ROWS = TOY_ETD_ROWS
TINY = ("--set", "bf16=false", "--set", "batch_size=4", "--set", "logging_steps=1")


@pytest.fixture
def etd(tmp_path) -> Path:
    return write_jsonl(tmp_path / "etd.jsonl", ETD_ROWS)


def _meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "model" / "mathdistill_train.json").read_text())


def test_train_fine_tunes_and_saves_the_student(tiny_causal, etd, tmp_path):
    out = tmp_path / "run"
    p = ok(run("train", "--model", tiny_causal, "--data", etd, "--thoughts", "pot,eot", "--out", out,
               "--set", "max_steps=2", *TINY))
    assert "16 rows (8 problems), 2 steps" in p.stdout
    meta = _meta(out)
    assert meta["steps"] == 2 and meta["rows"] == 16 and meta["resumed_at_step"] == 0
    assert meta["config"]["thoughts"] == ["pot", "eot"]
    assert (out / "model" / "config.json").is_file()


def test_train_bad_input(tiny_causal, etd, tmp_path):
    out = tmp_path / "run"
    user_error(run("train", "--model", tiny_causal, "--data", tmp_path / "missing.jsonl", "--out", out),
               "missing.jsonl")
    user_error(run("train", "--model", tiny_causal, "--data", etd, "--thoughts", "tot", "--out", out), "thoughts")
    user_error(run("train", "--model", tiny_causal, "--data", etd, "--out", out, "--set", "batch_size=0"), "batch_size")
    assert not (out / "model").exists()


KILL_AFTER_CHECKPOINT = textwrap.dedent("""
    import sys, time
    from transformers import TrainerCallback
    from mathdistill.distill.train import TrainConfig, train

    class HangAfterSave(TrainerCallback):  # the checkpoint is complete when on_save runs
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == int(sys.argv[4]):
                print("saved", state.global_step, flush=True)
                time.sleep(600)  # stands in for a long run; the test kills it here

    train(TrainConfig(model=sys.argv[1], data=[sys.argv[2]], out=sys.argv[3], max_steps=int(sys.argv[5]), batch_size=4,
                      save_steps=1, logging_steps=1, bf16=False), callbacks=[HangAfterSave()])
""")


@pytest.mark.slow  # two training processes
@pytest.mark.timeout(600)
def test_train_resumes_after_a_kill(tiny_causal, etd, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", KILL_AFTER_CHECKPOINT, tiny_causal, str(etd), str(out), "3", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        saved = next((line.split() for line in proc.stdout if line.startswith("saved")), None)
        assert saved == ["saved", "3"], "the training run died before its checkpoint"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "model").exists()  # killed mid-run: no final model yet
    p = ok(run("train", "--model", tiny_causal, "--data", etd, "--out", out, "--resume", "--set", "max_steps=6",
               "--set", "save_steps=1", *TINY))
    assert "6 steps" in p.stdout
    meta = _meta(out)
    assert meta["resumed_at_step"] == 3 and meta["steps"] == 6
    state = json.loads((out / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3, 4, 5, 6]  # none repeated


@pytest.mark.slow  # two training processes
@pytest.mark.timeout(600)
def test_train_resume_skips_a_checkpoint_torn_by_the_kill(tiny_causal, etd, tmp_path):
    out = tmp_path / "run"
    ok(run("train", "--model", tiny_causal, "--data", etd, "--out", out, "--set", "max_steps=2", "--set", "save_steps=1",
           *TINY))
    torn = out / "checkpoints" / "checkpoint-3"  # a kill while checkpoint 3 was being written
    torn.mkdir()
    (torn / "config.json").write_text((out / "checkpoints" / "checkpoint-2" / "config.json").read_text())
    p = run("train", "--model", tiny_causal, "--data", etd, "--out", out, "--resume", "--set", "max_steps=4",
            "--set", "save_steps=1", *TINY)
    ok(p)
    assert _meta(out)["resumed_at_step"] == 2 and _meta(out)["steps"] == 4


@pytest.mark.slow  # a training process
def test_train_resume_without_a_checkpoint_starts_fresh(tiny_causal, etd, tmp_path):
    # documented behaviour (`make demo` always trains with resume=True): nothing to resume is a fresh start
    out = tmp_path / "run"
    ok(run("train", "--model", tiny_causal, "--data", etd, "--out", out, "--resume", "--set", "max_steps=2", *TINY))
    meta = _meta(out)
    assert meta["resumed_at_step"] == 0 and meta["steps"] == 2


@pytest.fixture(scope="module")
def evaluated(tiny_causal, tmp_path_factory) -> Path:
    """One evaluation of the tiny student, shared by the evaluate and report tests."""
    out = tmp_path_factory.mktemp("eval") / "tiny_etd"
    p = run("evaluate", "--model", tiny_causal, "--split", "svamp:test", "--limit", "2", "--out", out,
            "--set", "max_new_tokens=8", "--set", "batch_size=4", "--set", "bf16=false")
    ok(p)
    (out / "stdout.txt").write_text(p.stdout)
    return out


def test_evaluate_writes_predictions_verdicts_and_metrics(evaluated):
    metrics = json.loads((evaluated / "metrics.json").read_text())
    m = metrics["splits"]["svamp:test"]
    assert m["problems"] == 2 and set(m["by_thought"]) == {"cot", "pot", "eot"}
    assert all(b["n"] == 2 for b in m["by_thought"].values())
    assert {"vote", "vote_plausible", "oracle"} <= set(m)
    assert len((evaluated / "predictions.jsonl").read_text().splitlines()) == 6
    stdout = (evaluated / "stdout.txt").read_text()
    assert "svamp:test (2 problems)" in stdout and str(evaluated / "metrics.json") in stdout


def test_evaluate_bad_input(tiny_causal, tmp_path):
    out = tmp_path / "eval"
    user_error(run("evaluate", "--model", tiny_causal, "--split", "nope:test", "--limit", "2", "--out", out),
               "unknown dataset 'nope'")
    user_error(run("evaluate", "--model", tiny_causal, "--limit", "2", "--sample", "2", "--out", out), "limit")
    user_error(run("evaluate", "--model", tiny_causal, "--limit", "0", "--out", out), "limit")
    user_error(run("evaluate", "--model", tiny_causal, "--thoughts", "tot", "--out", out), "thoughts")
    assert not (out / "predictions.jsonl").exists()


def test_report_renders_an_evaluation(evaluated, tmp_path):
    out = tmp_path / "report"
    p = ok(run("report", evaluated, "--out", out))
    assert str(out / "report.md") in p.stdout
    text = (out / "report.md").read_text()
    assert "tiny_etd" in text and "svamp:test" in text
    assert (out / "report.html").stat().st_size > 0


def test_report_bad_input(tmp_path):
    user_error(run("report", tmp_path / "missing", "--out", tmp_path / "report"), "missing")
    (tmp_path / "empty").mkdir()
    user_error(run("report", tmp_path / "empty", "--out", tmp_path / "report"), "empty")


# ------------------------------------------------------------------------------------ solve, demo


def test_solve_answers_with_each_thought_and_votes(tiny_causal):
    p = ok(run("solve", "Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?",
               "--model", tiny_causal, "--thoughts", "pot,eot", "--max-new-tokens", "8"))
    assert p.stdout.count("--- pot ---") == 1 and p.stdout.count("--- eot ---") == 1 and "--- cot ---" not in p.stdout
    assert "vote:" in p.stdout


@pytest.mark.parametrize("args, message", [
    (("What is 2 + 2?", "--thoughts", "tot"), "thoughts"),
    (("What is 2 + 2?", "--model", "runs/demo/train/model"), "runs/demo/train/model"),
    (("   ", "--model", "any"), "question"),
])
def test_solve_bad_input(args, message, tmp_path):
    user_error(run("solve", *args), message)


def test_demo_bad_input(tmp_path):
    out = tmp_path / "demo"
    user_error(run("demo", "--out", out, "--set", "train_problems=foo"), "train_problems: expected an integer, got 'foo'")
    user_error(run("demo", "--out", out, "--set", "train_problems=0"), "train_problems")
    assert not out.exists()


@pytest.mark.slow  # every stage of the demo on the tiny student (~1 min)
def test_demo_runs_end_to_end_at_toy_scale(tiny_causal, tmp_path):
    out = tmp_path / "demo"
    p = ok(run("demo", "--out", out, "--set", f"model={tiny_causal}", "--set", "train_problems=4", "--set", "epochs=1",
               "--set", "eval_problems=2", "--set", "max_new_tokens=8"))
    assert f"report: {out / 'report'}" in p.stdout
    stages = re.findall(r"^\[(\d+)/(\d+)\]", p.stderr, flags=re.MULTILINE)
    assert len(stages) >= 4 and stages == [(str(i), str(len(stages))) for i in range(1, len(stages) + 1)]
    metrics = json.loads(next(out.glob("*/metrics.json")).read_text())
    assert all(b["n"] == 2 for b in metrics["splits"]["svamp:test"]["by_thought"].values())


# ------------------------------------------------------------------------------ encoder-kd, models

@pytest.mark.parametrize("args, message", [  # one refusal per subcommand: each loads torch first (~3 s)
    (("run", "missing.yaml"), "config file not found"),
    (("prepare", "--set", "nope=1"), "known:"),
    (("aggregate", "--set", "nope"), "key=value"),
    (("compress-study", "--set", "dims=many"), "dims"),
    (("probe", "--set", "nope=1"), "known:"),
    (("aggregate", "--set", "out_dir=never-ran"), "never-ran"),  # aggregate before any run
])
def test_encoder_kd_bad_input(args, message):
    user_error(run("encoder-kd", *args), message)


def test_encoder_kd_aggregate_before_any_task_finished(tmp_path):
    (tmp_path / "kd").mkdir()
    assert "no finished task yet" in ok(run("encoder-kd", "aggregate", "--set", f"out_dir={tmp_path / 'kd'}")).stdout
    summary = json.loads((tmp_path / "kd" / "main.json").read_text())
    assert summary["tasks"] == [] and summary["missing_tasks"] == summary["config"]["tasks"]


def test_models_list_names_every_registered_model():
    p = ok(run("models", "list"))
    for name in ("smollm2-135m", "qwen2.5-coder-0.5b", "all-mpnet-base-v2"):
        assert name in p.stdout


def test_models_pull_unknown_name():
    user_error(run("models", "pull", "smolm2"), "unknown model 'smolm2'", "smollm2-135m")


# --------------------------------------------------------------------------------------- verifier


def test_verifier_train_and_evaluate_from_the_command_line(tmp_path):
    from test_verifier import synthetic

    train = synthetic(tmp_path / "train", "mawps-asdiv-a:train", 200, seed=7)
    svamp = synthetic(tmp_path / "svamp", "svamp:test", 100, seed=8)
    p = ok(run("verifier", "train", "--candidates", train, "--out", tmp_path / "v", "--eval-split", "svamp:test"))
    assert "validation verifier_vote" in p.stdout and (tmp_path / "v" / "verifier.json").is_file()
    p = ok(run("verifier", "evaluate", "--candidates", svamp, "--verifier", tmp_path / "v", "--out", tmp_path / "e"))
    assert "svamp:test (100 problems, 6 generations each" in p.stdout and "verifier_vote:v" in p.stdout
    assert (tmp_path / "e" / "report.md").is_file() and (tmp_path / "e" / "scores.jsonl.gz").is_file()
    user_error(run("verifier", "train", "--candidates", svamp, "--out", tmp_path / "bad"),
               "evaluation split(s) svamp:test", "training problems only")
    # one greedy answer per thought is not what this verifier was calibrated on
    user_error(run("solve", "Tom has 3 apples and buys 4. How many?", "--model", tmp_path, "--verifier", tmp_path / "v"),
               "k=2 candidates per thought", "--k 1 --temperature 0")
