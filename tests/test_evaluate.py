"""Evaluation: voting rules, grading synthetic predictions on real SVAMP problems, batched generation,
resumable evaluation runs, reports, and `solve`'s verified work."""

import json
from pathlib import Path

import pytest

from mathdistill.config import validated

from mathdistill import datasets as ds
from mathdistill.evaluate.breakdown import breakdown, read_verdicts
from mathdistill.evaluate.run_tables import _wrap_label
from mathdistill.report import ReportError, write_report
from mathdistill.evaluate.run import score_split
from mathdistill.evaluate.vote import plausibility, plausible_vote, vote
from mathdistill.rationales import Rationale, RecordError
from mathdistill.solve import check_rationale


def test_vote_majority_wins_over_priority():
    v = vote({"cot": "12", "pot": "12.0", "eot": "7"})
    assert v.answer == "12.0"  # as the most trusted supporter (PoT) wrote it
    assert v.support == ("pot", "cot") and v.voters == 3


def test_vote_tie_goes_to_eot_then_pot():
    assert vote({"cot": "1", "pot": "2", "eot": "3"}).answer == "3"
    assert vote({"cot": "1", "pot": "2", "eot": None}).answer == "2"
    assert vote({"cot": "1", "pot": "error", "eot": None}).support == ("cot",)


def test_vote_ignores_missing_answers_and_can_be_empty():
    assert vote({"cot": None, "pot": None, "eot": None}).answer is None
    v = vote({"cot": "5", "pot": None, "eot": "5"})
    assert v.support == ("eot", "cot") and v.voters == 2


def test_vote_agreement_uses_the_grading_tolerance():
    assert vote({"cot": "0.333333", "pot": "1/3", "eot": "2"}).support == ("pot", "cot")


def test_plausible_vote_sets_negative_then_fractional_answers_aside():
    assert [plausibility(a) for a in ("12", "12.0", "2.5", "-3", "1/3", "none", None)] == [0, 0, 1, 2, 1, None, None]
    v = plausible_vote({"cot": "7", "pot": "-4", "eot": "3.04"})  # the plain vote takes EoT's 3.04
    assert vote({"cot": "7", "pot": "-4", "eot": "3.04"}).answer == "3.04"
    assert v.answer == "7" and v.support == ("cot",) and v.voters == 3
    # within a tier it is the plain vote: majority, then EoT > PoT > CoT
    assert plausible_vote({"cot": "2", "pot": "5", "eot": "2.5"}).answer == "5"
    assert plausible_vote({"cot": "5", "pot": "2", "eot": "-1"}).answer == "2"
    # nothing better on offer: the negative (or fractional) answers still vote
    assert plausible_vote({"cot": "-2", "pot": "-2", "eot": "-3"}).support == ("pot", "cot")
    assert plausible_vote({"cot": None, "pot": "error", "eot": None}).answer is None


def test_score_split_reports_the_plausible_vote_beside_the_plain_one():
    problems = ds.load("svamp:test")[:2]
    g = [p.answer for p in problems]
    texts = [{"cot": f"The answer is {g[0]}.", "pot": f"ans = {g[0]} - 1000", "eot": f"ans = {g[0]} + 0.5"},
             {"cot": f"The answer is {g[1]}.", "pot": f"ans = {g[1]} + 1", "eot": f"ans = {g[1]} + 2"}]
    metrics, rows = score_split(_records(problems, texts), problems, ["cot", "pot", "eot"], "flexible", workers=1)
    assert metrics["vote"]["correct"] == 0 and metrics["vote_plausible"]["correct"] == 1
    assert rows[0]["vote_plausible"] == {"answer": rows[0]["thoughts"]["cot"]["answer"], "support": ["cot"], "correct": True}


def _records(problems, texts):
    return [Rationale(p.id, t, text) for p, row in zip(problems, texts) for t, text in row.items()]


def test_score_split_counts_thoughts_vote_and_oracle():
    problems = ds.load("svamp:test")[:3]
    g = [p.answer for p in problems]
    texts = [
        # all three disagree: the tie goes to EoT (wrong); CoT alone was right -> oracle only
        {"cot": f"The answer is {g[0]}.", "pot": f"ans = {g[0]} + 1", "eot": f"ans = {g[0]} + 2"},
        # PoT and CoT agree on the right answer, EoT is wrong -> vote right
        {"cot": f"So {g[1]}. The answer is {g[1]}.", "pot": f"x = {g[1]}\nans = x", "eot": f"ans = {g[1]} * 3 + 1"},
        # nothing readable
        {"cot": "I do not know.", "pot": "ans = undefined_name", "eot": "no equations here"},
    ]
    metrics, rows = score_split(_records(problems, texts), problems, ["cot", "pot", "eot"], "flexible", workers=1)
    assert metrics["problems"] == 3
    assert {t: b["correct"] for t, b in metrics["by_thought"].items()} == {"cot": 2, "pot": 1, "eot": 0}
    assert metrics["vote"]["correct"] == 1 and metrics["oracle"]["correct"] == 2
    assert [r["vote"]["correct"] for r in rows] == [False, True, False]
    assert rows[0]["vote"]["support"] == ["eot"] and rows[2]["vote"]["answer"] is None
    assert rows[2]["thoughts"]["pot"]["reason"].startswith("error: NameError")


def test_score_split_skips_problems_missing_a_thought():
    problems = ds.load("svamp:test")[:2]
    records = [Rationale(problems[0].id, "pot", f"ans = {problems[0].answer}"),
               Rationale(problems[0].id, "eot", f"ans = {problems[0].answer}"),
               Rationale(problems[1].id, "pot", "ans = 0")]
    metrics, _ = score_split(records, problems, ["pot", "eot"], "flexible", workers=1)
    assert metrics["problems"] == 1 and metrics["vote"]["accuracy"] == 1.0
    assert metrics["by_thought"]["pot"]["n"] == 1


def test_check_rationale_shows_the_verified_work():
    pot = check_rationale("pot", "apples = 3\nmore = 4\nans = apples * more")
    assert pot.answer == "12" and "sandbox" in pot.work
    eot = check_rationale("eot", "x = 3\nans = x + 2 * x")
    assert eot.answer == "9" and "x = 3" in eot.work
    cot = check_rationale("cot", "3 * 4 = 12. The answer is 12.")
    assert cot.answer == "12"
    bad = check_rationale("pot", "import os\nans = 1")
    assert bad.answer is None and bad.failure.startswith("forbidden")


def _metrics(train_problems: int, accuracies: dict) -> dict:
    block = {k: {"n": 10, "correct": round(a * 10), "accuracy": a} for k, a in accuracies.items()}
    return {"model": "m", "cot_policy": "flexible", "vote_tie_rule": "eot > pot > cot",
            "training": {"problems": train_problems, "rows": 3 * train_problems, "steps": 5, "tokens_per_second": 400.0,
                         "base_model": "/x/hf", "config": {"model": "smollm2-135m", "thoughts": ["cot", "pot", "eot"],
                                                           "lora": False}},
            "splits": {"svamp:test": {"problems": 10, "by_thought": {t: block[t] for t in ("cot", "pot", "eot")},
                                      "vote": block["vote"], "oracle": block["oracle"], "failures": {}}}}


def test_report_writes_tables_and_plots(tmp_path):
    for name, n, acc in (("small", 100, 0.1), ("large", 1000, 0.3)):
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(_metrics(n, {"cot": acc, "pot": acc + 0.1, "eot": acc, "vote": acc + 0.2,
                                                                "oracle": acc + 0.3})))
    md, skipped = write_report([tmp_path / "runs"], tmp_path / "report")
    text = md.read_text()
    assert skipped == []
    assert "| small | svamp:test | 10 | 10.0% (1/10) | 20.0% (2/10) |" in text
    assert "| large | smollm2-135m | cot,pot,eot | full | 1000 |" in text
    for f in ("report.html", "accuracy.png", "data_scale.png"):
        assert (tmp_path / "report" / f).stat().st_size > 0
    assert "<table>" in (tmp_path / "report" / "report.html").read_text()


def test_plot_labels_wrap_long_run_names_at_underscores():
    assert _wrap_label("smollm2_base_svamp") == "smollm2_base_svamp"
    label = _wrap_label("smollm2_potd_svamp_teacher")
    assert label == "smollm2_potd_svamp\n_teacher"
    assert label.replace("\n", "") == "smollm2_potd_svamp_teacher"


def test_report_without_size_differences_has_no_scale_plot(tmp_path):
    d = tmp_path / "only"
    d.mkdir()
    (d / "metrics.json").write_text(json.dumps(_metrics(100, dict.fromkeys(("cot", "pot", "eot", "vote", "oracle"), 0.5))))
    write_report([d], tmp_path / "report")
    assert (tmp_path / "report" / "accuracy.png").exists() and not (tmp_path / "report" / "data_scale.png").exists()


def test_report_renders_encoder_distillation_results(tmp_path):
    """`mathdistill report` on an encoder-kd out_dir: main table, compression study and probes, each with
    its plot, in Markdown and HTML; per-task files are not reported twice; no evaluations needed."""
    d = tmp_path / "encoder_kd"
    (d / "tasks").mkdir(parents=True)
    row = {"n": 10, "equation_acc": 0.4, "answer_acc": 0.5, "params": 100}
    task = {"task": "asdiv-a:cv0-train>asdiv-a:cv0-dev", "complete": True, "rows_digest": "x",
            "speed": {"teacher": 10.0, "student": 90.0, "load_average": [1.0, 1.0, 1.0], "sentences": 5},
            "rows": {"teacher (fine-tuned)": row, "student (both)": {**row, "answer_acc": 0.45, "params": 10}}}
    (d / "tasks" / "asdiv-a-cv0-train_to_asdiv-a-cv0-dev.json").write_text(json.dumps(task))
    (d / "main.json").write_text(json.dumps({"config": {"teacher": "t", "threads": 1}, "tasks": [task]}))
    (d / "compression.json").write_text(json.dumps({"rows": [
        {"method": m, "dim": k, "reconstruction_error": 0.2, "cosine_spearman": 0.9, "fit_seconds": 1.0}
        for m in ("pca", "lle") for k in (64, 16)]}))
    (d / "probes.json").write_text(json.dumps({"rows": [
        {"representation": r, "dim": 64, "pos": 0.8, "ner": 0.9, "relation": 0.5, "pos_majority": 0.2,
         "ner_majority": 0.8, "relation_majority": 0.4} for r in ("teacher", "student (both)")]}))
    text = write_report([d], tmp_path / "report")[0].read_text()
    assert text.index("## Encoder distillation") < text.index("## Compression study") < text.index("## Probes")
    assert "| student (both) | 0.90 (0.90) |" in text and "| lle | 16 | 0.200 | 0.900 |" in text
    assert "## Accuracy" not in text and text.count("## Encoder distillation") == 1
    for kind in ("main", "compression", "probes"):
        assert (tmp_path / "report" / f"encoder-encoder_kd-{kind}.png").stat().st_size > 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<table>") == 5 and "<td>student (both)</td>" in page  # main, ratios, per task, compression, probes
    with pytest.raises(ReportError, match="no metrics.json"):
        write_report([tmp_path / "report"], tmp_path / "again")


# --- generation on a tiny random model (real tokenizer) ---

# (the `tiny_causal` fixture is in conftest.py)

def test_batched_left_padded_generation_matches_one_at_a_time(tiny_causal):
    from mathdistill.distill.student import load_student
    from mathdistill.evaluate.backends.hf import generate

    student = load_student(tiny_causal, bf16=False)
    prompts = ["Question: 1 + 1?\nLet's think step by step.\n",
               "Question: A much longer question about many apples and pears and a basket?\nSystem:\n",
               "Question: 7?\n"]
    batched = generate(student, prompts, batch_size=3, max_new_tokens=8)
    single = [generate(student, [p], batch_size=1, max_new_tokens=8)[0] for p in prompts]
    assert batched == single and all(batched)


def test_evaluate_is_resumable(tiny_causal, tmp_path):
    from mathdistill.evaluate.run import EvalConfig, run_evaluate

    problems = ds.load("svamp:test")[:2]
    out = tmp_path / "eval"
    out.mkdir()
    # a prediction already on disk (as after a kill) is kept, not regenerated
    (out / "predictions.jsonl").write_text(json.dumps({"id": problems[0].id, "thought": "pot",
                                                       "text": f"ans = {problems[0].answer}"}) + "\n")
    cfg = EvalConfig(model=tiny_causal, splits=["svamp:test"], thoughts=["pot", "eot"], limit=2, out=str(out),
                     max_new_tokens=4, batch_size=4, bf16=False, workers=1)
    first = run_evaluate(cfg)
    assert first["generation"]["generated"] == 3 and first["generation"]["already_done"] == 1
    m = first["splits"]["svamp:test"]
    assert m["problems"] == 2 and m["by_thought"]["pot"]["correct"] >= 1 and m["oracle"]["correct"] >= 1
    second = run_evaluate(cfg)
    assert second["generation"]["generated"] == 0
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert json.loads((out / "metrics.json").read_text())["splits"] == second["splits"]
    assert len((out / "verdicts.jsonl").read_text().splitlines()) == 2

    # predictions of other weights in the same directory are refused, not mixed in
    with open(out / "predictions.jsonl", "a") as f:
        f.write(json.dumps({"id": problems[1].id, "thought": "cot", "text": "1", "model": "old", "fingerprint": "x"}) + "\n")
    with pytest.raises(RecordError, match="other weights"):
        run_evaluate(cfg)

    # regrade only: no model is loaded (the path does not exist), nothing is generated, the metrics
    # come from the predictions on disk and keep the last run's generation and training records
    from dataclasses import replace
    lines = (out / "predictions.jsonl").read_text().splitlines()
    (out / "predictions.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    regraded = run_evaluate(replace(cfg, model=str(tmp_path / "gone"), regrade_only=True))
    assert regraded["splits"] == second["splits"] and regraded["generation"]["regraded"]
    assert {k: regraded["generation"][k] for k in second["generation"]} == second["generation"]
    assert regraded["training"] == second["training"]
    with pytest.raises(RecordError, match="nothing to regrade"):
        run_evaluate(replace(cfg, out=str(tmp_path / "empty"), regrade_only=True))


def test_solve_checks_each_thought_and_votes_both_ways(monkeypatch):
    from mathdistill.evaluate import backends
    from mathdistill.solve import solve

    texts = {"cot": "So she has 7 apples. The answer is 7.", "pot": "ans = 3 - 7", "eot": "x = 7 / 2\nans = x"}
    monkeypatch.setattr(backends, "open_backend", lambda kind, model, **kw: FakeBackend(
        lambda prompts: [next(text for t, text in texts.items() if p.endswith(_instruction(t))) for p in prompts]))
    sol = solve("Ann has 7 apples. How many apples does she have?", "any-model")
    assert [(a.thought, a.answer) for a in sol.answers] == [("cot", "7"), ("pot", "-4"), ("eot", "3.5")]
    assert "sandbox" in sol.answers[1].work and "solved" in sol.answers[2].work
    assert sol.vote.answer == "3.5" and sol.plausible.answer == "7" and sol.plausible.support == ("cot",)


class FakeBackend:
    name, model = "fake", "fake"

    def __init__(self, answer):
        self.answer = answer

    def generate(self, prompts, max_new_tokens, progress=None):
        return self.answer(prompts)

    def close(self):
        pass


def _instruction(thought: str) -> str:
    from mathdistill.thoughts import student_prompt

    return student_prompt("", thought).rsplit("\n", 2)[-2] + "\n"


def test_evaluation_batches_hold_one_thought(monkeypatch, tmp_path):
    # outputs of one thought have similar lengths, so a batch should not mix thoughts
    from mathdistill.evaluate import backends
    from mathdistill.evaluate.run import CHUNK, EvalConfig, generate_missing

    calls = []

    def fake_generate(prompts):
        calls.append({t for p in prompts for t in ("cot", "pot", "eot") if p.endswith(_instruction(t))})
        return ["ans = 1"] * len(prompts)

    monkeypatch.setattr(backends, "open_backend", lambda kind, model, **kw: FakeBackend(fake_generate))
    problems = {"svamp:test": ds.load("svamp:test")[:CHUNK]}  # one chunk per thought exactly
    cfg = EvalConfig(model="any-model", splits=["svamp:test"], thoughts=["cot", "pot", "eot"], out=str(tmp_path))
    stats = generate_missing(cfg, problems)
    assert stats["generated"] == 3 * CHUNK
    assert calls == [{"cot"}, {"pot"}, {"eot"}]


def test_breakdown_groups_verdicts_and_names_a_bad_line(tmp_path):
    def row(pid, cot, eot, vote):
        return {"id": pid, "thoughts": {"cot": {"correct": cot}, "eot": {"correct": eot}},
                "vote": {"correct": vote}, "oracle": cot or eot}

    rows = [row("a/1", True, False, True), row("a/2", False, False, False), row("b/1", False, True, True),
            row("skip/1", True, True, True)]
    groups = breakdown(rows, lambda pid: None if pid.startswith("skip") else pid.split("/")[0],
                       order=["b", "a", "empty"])
    assert list(groups) == ["b", "a"]
    assert groups["a"] == {"problems": 2, "accuracy": {"cot": 0.5, "eot": 0.0, "vote": 0.5, "oracle": 0.5}}
    assert groups["b"]["accuracy"] == {"cot": 0.0, "eot": 1.0, "vote": 1.0, "oracle": 1.0}
    (tmp_path / "verdicts.jsonl").write_text(json.dumps(rows[0]) + "\n{broken\n")
    with pytest.raises(ValueError, match=r"verdicts.jsonl:2"):
        read_verdicts(tmp_path)
    with pytest.raises(FileNotFoundError, match="no verdicts"):
        read_verdicts(tmp_path / "missing")


def test_sample_is_seeded_nested_and_in_file_order():
    from mathdistill.evaluate.run import EvalConfig, sample_problems

    problems = [ds.Problem(id=f"toy/test/{i}", dataset="toy", split="test", key=str(i), question="q", answer=i)
                for i in range(50)]
    small, large = sample_problems(problems, 10, seed=3), sample_problems(problems, 25, seed=3)
    assert len(small) == 10 and len(large) == 25
    assert [p.answer for p in small] == sorted(p.answer for p in small)
    assert {p.id for p in small} <= {p.id for p in large}
    assert small == sample_problems(problems, 10, seed=3) and small != sample_problems(problems, 10, seed=4)
    assert small != problems[:10]
    assert len(sample_problems(problems, 80)) == 50
    with pytest.raises(ValueError, match="not both"):
        EvalConfig(limit=5, sample=5).validate()
    with pytest.raises(ValueError, match="sample: expected a number >= 1"):
        validated(EvalConfig(sample=0))


def test_analysis_scripts_read_a_run_and_write_json(tmp_path):
    """scripts/eot_overshoot.py and scripts/equation_types.py on a two-problem SVAMP run: the first
    EoT answer is right, the second overshoots (its step holds the gold value, then adds 7)."""
    import subprocess
    import sys

    problems = ds.load("svamp:test")[:2]
    g = [p.answer for p in problems]
    texts = [{"eot": f"ans = {g[0]}"}, {"eot": f"step1 = {g[1]} + 0\nans = step1 + 7"}]
    records = _records(problems, texts)
    _, rows = score_split(records, problems, ["eot"], "flexible", workers=1)
    run = tmp_path / "run"
    run.mkdir()
    (run / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "predictions.jsonl").write_text("".join(json.dumps({"id": r.id, "thought": r.thought, "text": r.text}) + "\n"
                                                   for r in records))
    root = Path(__file__).resolve().parents[1] / "scripts"
    subprocess.run([sys.executable, root / "eot_overshoot.py", run, "--split", "svamp:test", "--out", tmp_path / "o.json"],
                   check=True, capture_output=True)
    over = json.loads((tmp_path / "o.json").read_text())
    assert (over["problems"], over["right"], over["wrong"], over["wrong_with_gold_in_a_step"]) == (2, 1, 1, 1)
    subprocess.run([sys.executable, root / "equation_types.py", run, "--split", "svamp:test", "--out", tmp_path / "s.json"],
                   check=True, capture_output=True)
    shapes = json.loads((tmp_path / "s.json").read_text())["groups"]
    assert sum(g["problems"] for g in shapes.values()) == 2
    assert sum(g["accuracy"]["eot"] * g["problems"] for g in shapes.values()) == 1


def test_data_scale_lines_join_only_runs_of_one_family(tmp_path, monkeypatch):
    """Runs with different data files or thoughts are different families: never joined by a line."""
    from mathdistill.evaluate import run_tables

    def run(name, n, data, thoughts):
        m = _metrics(n, dict.fromkeys(("cot", "pot", "eot", "vote", "oracle"), 0.5))
        m["training"]["config"].update(data=[data], thoughts=thoughts)
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(m))

    run("etd_quarter", 800, "runs/gold/etd.jsonl", ["cot", "pot", "eot"])
    run("etd_all", 3129, "runs/gold/etd.jsonl", ["cot", "pot", "eot"])
    run("potd_all", 3129, "runs/gold/etd.jsonl", ["pot"])  # another family: one size only
    run("etd_distractors", 6255, "runs/gold_distractors/etd.jsonl", ["cot", "pot", "eot"])  # another data source
    drawn = []
    real_plot = run_tables.plot_data_scale

    def spy(runs, out):
        families = {}
        for r in runs:
            families.setdefault(r.family, []).append(r.name)
        drawn.append(families)
        return real_plot(runs, out)

    monkeypatch.setattr("mathdistill.report.plot_data_scale", spy)
    write_report([tmp_path / "runs"], tmp_path / "report")
    assert (tmp_path / "report" / "data_scale.png").is_file()
    (families,) = drawn
    assert sorted(map(sorted, families.values())) == [["etd_all", "etd_quarter"], ["etd_distractors"], ["potd_all"]]


def test_report_skips_paths_without_results_and_scales_its_plots(tmp_path):
    d = tmp_path / "runs" / "only"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(_metrics(100, dict.fromkeys(("cot", "pot", "eot", "vote", "oracle"), 0.5))))
    readme = tmp_path / "runs" / "README.md"  # what `report results/students/svamp/*` passes besides the runs
    readme.write_text("# notes\n")
    md, skipped = write_report([d, readme], tmp_path / "report")
    assert skipped == [readme] and md.is_file()
    page = (tmp_path / "report" / "report.html").read_text()
    assert "img{max-width:100%" in page and "<img src=\"accuracy.png\"" in page


def test_score_summary_says_how_many_failure_reasons_it_leaves_out(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    p = next(p for p in ds.load("svamp:test") if p.answer > 2 and float(p.answer).is_integer())
    g = int(p.answer)
    texts = [f"The answer is {-g}.", f"The answer is {100 * g}.", f"The answer is 1/{g}.",
             f"The answer is {g + 1}.", "I do not know.", f"The answer is {g}."]
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps({"id": p.id, "thought": "cot", "text": t}) + "\n" for t in texts))
    exe = Path(sys.executable).with_name("mathdistill")
    out = subprocess.run([str(exe), "score", "svamp:test", "--input", str(records)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.strip().startswith("cot:"))
    assert "1/6" in line and "and 1 more" in line


@pytest.mark.parametrize("run", ["students/svamp/smollm2_etd_svamp", "demo/avx2_emulated", "demo/avx2_epyc"])
def test_regrade_of_a_committed_run_reproduces_its_metrics(tmp_path, run):
    """`evaluate --set regrade_only=true` on a committed run directory (only predictions.jsonl.gz and
    metrics.json are committed) gives the committed numbers, with no model loaded."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "results" / run
    out = tmp_path / "run"
    shutil.copytree(committed, out)
    exe = Path(sys.executable).with_name("mathdistill")
    p = subprocess.run([str(exe), "evaluate", "--model", "unused", "--out", str(out), "--set", "regrade_only=true"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    before = json.loads((committed / "metrics.json").read_text())["splits"]
    after = json.loads((out / "metrics.json").read_text())["splits"]
    assert before.keys() == after.keys()
    for spec in before:
        for key in ("problems", "by_thought", "vote", "vote_plausible", "oracle", "failures"):
            assert after[spec][key] == before[spec][key], (spec, key)
