"""encoder_kd: prefix conversion, shapes, GTS learning a toy set to 100%, distillation loss falling.

Uses the real all-mpnet-base-v2 tokenizer (offline registry); the models of the unmarked tests are
tiny, so they run in about a minute on two cores.  The tests marked slow run the tiny experiment
config through the real teacher (minutes each).  No test here times anything: encoding speed is
measured by benchmarks/encoder_speed.py.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from mathdistill.datasets.problem import Problem
from mathdistill.encoder_kd.compress import METHODS, cosine_spearman, make_compressor, reconstruction_error
from mathdistill.encoder_kd.examples import collate, make_examples
from mathdistill.encoder_kd.gts import GTSDecoder, Vocab
from mathdistill.encoder_kd.kd_stages import DistillConfig, distill
from mathdistill.encoder_kd.prefix import Unconvertible, evaluate, to_prefix
from mathdistill.encoder_kd.student_encoder import StudentConfig, StudentEncoder
from mathdistill.encoder_kd.tree_solver import Solver, TrainConfig, evaluate_solver, train_solver


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a shared box two threads contend (~5x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from mathdistill.models import resolve_hf

    return AutoTokenizer.from_pretrained(resolve_hf("all-mpnet-base-v2"))


def test_prefix_uses_slots_constants_and_left_folds():
    assert to_prefix("(76-25)", (76.0, 25.0)) == ["-", "N0", "N1"]
    assert to_prefix("(3+4+5)", (3.0, 4.0, 5.0)) == ["+", "+", "N0", "N1", "N2"]
    assert to_prefix("12/(4-1)", (12.0, 4.0)) == ["/", "N0", "-", "N1", "1"]
    assert evaluate(["/", "N0", "-", "N1", "1"], (12.0, 4.0)) == 4.0
    assert evaluate(["+", "N0"], (1.0,)) is None  # not a whole tree
    with pytest.raises(Unconvertible):
        to_prefix("x+1", (1.0,))


_TEMPLATES = [("{a} birds sat on a tree and {b} more came. How many birds?", "+"),
              ("Ann had {a} pens and lost {b} of them. How many pens are left?", "-"),
              ("There are {a} boxes with {b} cups in each box. How many cups?", "*"),
              ("{a} cookies are shared equally by {b} kids. How many does each kid get?", "/")]


def _toy_problems(n: int, seed: int = 0) -> list[Problem]:
    rng = random.Random(seed)
    problems = []
    for i in range(n):
        text, op = _TEMPLATES[i % len(_TEMPLATES)]
        a, b = rng.randint(10, 99), rng.randint(2, 9)
        answer = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
        problems.append(Problem(id=f"toy/t/{i}", dataset="toy", split="t", key=str(i),
                                question=text.format(a=a, b=b), answer=float(answer), equation=f"{a}{op}{b}",
                                numbers=(float(a), float(b))))
    return problems


def _toy_examples(tokenizer, n: int = 32):
    problems = _toy_problems(n)
    raw, _ = make_examples(problems, tokenizer)
    vocab = Vocab.from_targets([e.prefix for e in raw], max_slots=2)
    examples, skipped = make_examples(problems, tokenizer, vocab)
    assert not skipped
    return examples, vocab


def _tiny_student(tokenizer, hidden: int = 32) -> StudentEncoder:
    return StudentEncoder(StudentConfig(vocab_size=len(tokenizer), hidden=hidden, layers=1, heads=4, ffn=64,
                                        dropout=0.0, pad_id=tokenizer.pad_token_id))


def test_examples_locate_numbers_and_shapes(tokenizer):
    examples, vocab = _toy_examples(tokenizer, 8)
    e = examples[0]
    for pos, value in zip(e.num_pos, e.problem.numbers):
        piece = tokenizer.decode([e.input_ids[pos]]).strip()  # first sub-word of the number
        assert piece and str(int(value)).startswith(piece)
    batch = collate(examples, tokenizer.pad_token_id)
    student = _tiny_student(tokenizer)
    out = student(batch.input_ids, batch.attention_mask)
    assert out.shape == (len(examples), batch.input_ids.size(1), 32)
    decoder = GTSDecoder(32, vocab, hidden=16, dropout=0.0)
    loss = decoder(out, batch.attention_mask, batch.num_pos, batch.num_mask, targets=batch.targets)
    assert loss.ndim == 0 and loss.item() > 0
    preds = decoder(out, batch.attention_mask, batch.num_pos, batch.num_mask, max_steps=7)
    assert len(preds) == len(examples) and all(1 <= len(p) <= 7 for p in preds)


def test_student_is_a_tenth_of_the_teacher(tokenizer):
    student = StudentEncoder(StudentConfig(vocab_size=len(tokenizer), pad_id=tokenizer.pad_token_id))
    params = sum(p.numel() for p in student.parameters())
    assert params <= 109_486_464 / 10  # all-mpnet-base-v2
    assert len(student.layers.layers) == 3 and student.layers.layers[0].self_attn.num_heads == 16


def test_gts_learns_toy_set_to_100_percent(tokenizer):
    examples, vocab = _toy_examples(tokenizer, 32)
    torch.manual_seed(0)
    solver = Solver(GTSDecoder(32, vocab, hidden=32, dropout=0.0), _tiny_student(tokenizer))
    history = train_solver(solver, examples, TrainConfig(epochs=25, batch_size=8, lr=1e-2), tokenizer.pad_token_id,
                           encoder_lr=3e-3, log=lambda _: None)
    scores = evaluate_solver(solver, examples, tokenizer.pad_token_id)
    assert history.losses[-1] < history.losses[0]
    assert scores.equation_acc == 1.0 and scores.answer_acc == 1.0


def test_distillation_loss_decreases(tokenizer):
    examples, _ = _toy_examples(tokenizer, 16)
    torch.manual_seed(0)
    teacher = _tiny_student(tokenizer, hidden=48).eval()
    with torch.no_grad():
        targets = [teacher(torch.tensor([e.input_ids]), torch.ones(1, len(e.input_ids)))[0] for e in examples]
    compressor = make_compressor("pca", 16).fit(torch.cat(targets).numpy())
    compressed = [torch.from_numpy(compressor.transform(t.numpy())) for t in targets]
    losses = distill(_tiny_student(tokenizer, hidden=16), examples, compressed,
                     DistillConfig(epochs=15, batch_size=8, lr=3e-3), tokenizer.pad_token_id, log=lambda _: None)
    assert losses[-1] < 0.8 * losses[0] and losses[-1] == min(losses[-3:])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_compressors_share_fit_transform(method):
    rng = np.random.default_rng(0)
    # low-rank data plus noise: a good 8-d compressor keeps most of it
    x = (rng.normal(size=(300, 8)) @ rng.normal(size=(8, 40)) + 0.05 * rng.normal(size=(300, 40))).astype(np.float32)
    compressor = make_compressor(method, 8, sample=150)
    z = compressor.fit(x[:200]).transform(x[200:])
    assert z.shape == (100, 8)
    err = reconstruction_error(x[:200], compressor.transform(x[:200]), x[200:], z)
    assert 0 <= err < 1.0
    if method in ("linear", "pca"):
        assert err < 0.1 and cosine_spearman(x[200:], z, x[:200].mean(0)) > 0.9


@pytest.mark.parametrize("name", ["encoder_kd.yaml", "encoder_kd_cpu.yaml", "encoder_kd_tiny.yaml", "encoder_kd_svamp_long.yaml",
                                  "encoder_kd_svamp_slow.yaml"])
def test_shipped_configs_load(name):
    from pathlib import Path

    from mathdistill.config import load_config
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.study import StudyConfig
    from mathdistill.encoder_kd.tasks import parse_task

    path = Path(__file__).parent.parent / "configs" / name
    run = load_config(ExperimentConfig, path, section="run")
    assert all(parse_task(t) for t in run.tasks) and set(run.variants) <= {"none", "stage1", "stage2", "both"}
    assert set(run.ablation_tasks) <= set(run.tasks)
    if "study" in path.read_text():
        assert load_config(StudyConfig, path, section="study").dims


@pytest.mark.parametrize("config, results", [("encoder_kd_cpu.yaml", "encoder_kd"),
                                             ("encoder_kd_svamp_long.yaml", "encoder_kd_svamp_long")])
def test_committed_results_stay_resumable_under_their_config(config, results):
    """A field added to the config later must not change the digest of rows measured before it."""
    import json
    from pathlib import Path

    from mathdistill.config import load_config
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.task_files import rows_digest

    root = Path(__file__).parent.parent
    cfg = load_config(ExperimentConfig, root / "configs" / config, section="run")
    files = sorted((root / "results" / results / "tasks").glob("*.json"))
    assert files
    assert {json.loads(f.read_text())["rows_digest"] for f in files} == {rows_digest(cfg)}


@pytest.mark.slow
def test_distilled_students_can_have_their_own_task_learning_rate(tmp_path, monkeypatch):
    from pathlib import Path

    from mathdistill.config import load_config
    from mathdistill.encoder_kd import experiment, task_runner
    from mathdistill.encoder_kd.experiment import ExperimentConfig

    rates = []
    real_train = task_runner.train_solver
    monkeypatch.setattr(task_runner, "train_solver",
                        lambda *a, **k: rates.append(k.get("encoder_lr")) or real_train(*a, **k))
    path = Path(__file__).parent.parent / "configs" / "encoder_kd_tiny.yaml"
    cfg = load_config(ExperimentConfig, path, {"cache_dir": str(tmp_path / "cache"), "out_dir": str(tmp_path / "out"),
                                               "tasks": ["mawps:cv0-train>mawps:cv0-dev"], "ablation_tasks": [],
                                               "variants": ["none", "stage1"], "distilled_student_lr": 1.5e-5},
                      section="run")
    experiment.run(cfg, log=lambda _: None)
    assert rates[-2:] == [cfg.student_lr, 1.5e-5]  # the two students come last, in variant order


def test_linear_compressor_targets_have_unit_scale():
    """Distillation targets must not shrink towards zero whatever the input scale (a student collapsed)."""
    rng = np.random.default_rng(1)
    for spread in (0.05, 20.0):
        x = (spread * rng.normal(size=(400, 32))).astype(np.float32)
        z = make_compressor("linear", 8).fit(x).transform(x)
        assert abs(z.var(0).mean() - 1.0) < 0.05


def test_split_linear_attention_matches_the_concatenated_form(tokenizer):
    """GTS scores [goal; word] with one linear layer; the decoder splits it (query part per step,
    word part per batch).  Same numbers as the textbook concatenation."""
    _, vocab = _toy_examples(tokenizer, 8)
    torch.manual_seed(0)
    dec = GTSDecoder(16, vocab, hidden=8, dropout=0.0)
    goal, words = torch.randn(3, 8), torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    keys = torch.nn.functional.linear(words, dec.attn.weight[:, 8:])
    got = dec._attend(goal, words, keys, mask)
    q = goal.unsqueeze(1).expand(-1, 5, -1)
    scores = dec.attn_score(torch.tanh(dec.attn(torch.cat([q, words], -1)))).squeeze(-1)
    want = torch.bmm(torch.softmax(scores.masked_fill(~mask.bool(), -1e9), -1).unsqueeze(1), words).squeeze(1)
    assert torch.allclose(got, want, atol=1e-6)


def test_vocab_drops_rare_constants_and_eval_keeps_them_as_misses(tokenizer):
    problems = _toy_problems(8)
    raw, _ = make_examples(problems, tokenizer)
    targets = [e.prefix for e in raw] + [["*", "N0", "3.5"]] + [["+", "N0", "100"]] * 3
    vocab = Vocab.from_targets(targets, max_slots=2, min_count=2)
    assert vocab.constants == ("100",)
    odd = Problem(id="toy/t/odd", dataset="toy", split="t", key="odd", question="Ann has 4 bags. How many halves?",
                  answer=14.0, equation="4*3.5", numbers=(4.0,))
    kept, notes = make_examples([odd], tokenizer, vocab, keep_unencodable=True)
    assert len(kept) == 1 and kept[0].target == [] and "counts as an equation miss" in notes[0]
    assert make_examples([odd], tokenizer, vocab)[0] == []
    solver = Solver(GTSDecoder(32, vocab, hidden=16, dropout=0.0), _tiny_student(tokenizer))
    scores = evaluate_solver(solver, kept, tokenizer.pad_token_id, extra_misses=3)
    assert scores.n == 4 and scores.equation_acc == 0.0


@pytest.fixture(scope="module")
def teacher():
    from mathdistill.encoder_kd.teacher import load_teacher

    return load_teacher("all-mpnet-base-v2")


def test_top_layers_on_cached_states_equal_the_full_teacher(teacher):
    from mathdistill.encoder_kd.teacher import TopLayers, hidden_states

    tok, encoder = teacher
    enc = tok(["Tom has 3 apples and buys 5 more. How many apples does he have now?", "A bus has 40 seats."],
              padding=True, return_tensors="pt")
    encoder.eval()
    for n in (1, 2, 12):
        base, last = hidden_states(encoder, enc.input_ids, enc.attention_mask, n)
        top = TopLayers(encoder, n).eval()
        with torch.no_grad():
            out = top(base, enc.attention_mask)
        real = enc.attention_mask.bool()
        assert torch.allclose(out[real], last[real], atol=1e-5)
        trainable = {name for name, p in top.named_parameters() if p.requires_grad}
        assert trainable and all(name.startswith("stack.layer.") for name in trainable)
    with pytest.raises(ValueError, match="top 13 of 12"):
        TopLayers(encoder, 13)


_ONE_MORE = ["Tom had {a} apples and found one more. How many apples does Tom have now?",
             "A shelf holds {a} books. Sam puts one more book on it. How many books are on the shelf?",
             "There were {a} birds in a tree and one more bird landed. How many birds are in the tree?"]


def _one_more_problems(split: str, n: int, seed: int) -> list[Problem]:
    """A task a decoder on frozen teacher vectors learns in a few dozen steps: every equation is N0 + 1."""
    rng = random.Random(seed)
    problems = []
    for i in range(n):
        a = rng.randint(2, 99)
        problems.append(Problem(id=f"toy/{split}/{i}", dataset="toy", split=split, key=str(i),
                                question=_ONE_MORE[i % len(_ONE_MORE)].format(a=a), answer=float(a + 1),
                                equation=f"{a}+1", numbers=(float(a),)))
    return problems


@pytest.mark.slow
def test_experiment_runs_end_to_end_and_resumes(tmp_path, monkeypatch):
    """The tiny config through every row (teachers, compressed, four student variants), two shards,
    then a rerun that finds every task finished and only aggregates.  One of the two tasks is a toy
    task the frozen teacher's decoder learns, so a pipeline that scores everything 0 fails here."""
    import json
    from pathlib import Path

    from mathdistill import datasets
    from mathdistill.config import load_config
    from mathdistill.encoder_kd import experiment
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.experiment_config import my_tasks
    from mathdistill.encoder_kd.tasks import task_slug

    real_load = datasets.load
    toy = {"toy:train": _one_more_problems("train", 40, 0), "toy:test": _one_more_problems("test", 20, 1)}
    monkeypatch.setattr(datasets, "load", lambda spec, *a: list(toy[spec]) if spec in toy else real_load(spec, *a))
    path = Path(__file__).parent.parent / "configs" / "encoder_kd_tiny.yaml"
    learnable = "toy:train>toy:test"
    paths = {"cache_dir": str(tmp_path / "cache"), "out_dir": str(tmp_path / "out")}
    overrides = {**paths, "tasks": ["asdiv-a:cv0-train>asdiv-a:cv0-dev", learnable],
                 "teacher_epochs": 40,  # enough for the toy task (~7 s): its decoder needs ~30 steps
                 "stage2_epochs": 3}  # a loss curve to watch
    cfgs = [load_config(ExperimentConfig, path, {**overrides, "shard": f"{i}/2"}, section="run") for i in range(2)]
    assert sorted(my_tasks(cfgs[0]) + my_tasks(cfgs[1])) == sorted(cfgs[0].tasks)
    for cfg in cfgs:
        experiment.run(cfg, log=lambda _: None)
    results = json.loads((tmp_path / "out" / "main.json").read_text())
    assert not results["missing_tasks"] and len(results["tasks"]) == 2
    ablation = next(t for t in results["tasks"] if t["task"] in cfgs[0].ablation_tasks)
    assert set(ablation["rows"]) == {"teacher (frozen)", "teacher (fine-tuned)", "teacher-compressed-256 (linear)",
                                     "student (none)", "student (stage1)", "student (stage2)", "student (both)"}
    for row in ablation["rows"].values():
        assert 0 <= row["answer_acc"] <= 1 and row["n"] == 12
    toy_task = next(t for t in results["tasks"] if t["task"] == learnable)
    assert toy_task["rows"]["teacher (frozen)"]["answer_acc"] >= 0.75  # learnt, measured, recorded
    for variant in ("stage2", "both"):  # the student moves towards the teacher's vectors
        mse = ablation["distill_losses"][variant]["stage2"]
        assert len(mse) == 3 and mse[-1] < mse[0]
    assert ablation["speed"]["student"] > 0 and ablation["speed"]["teacher"] > 0  # measured (speed: benchmarks/)
    assert "student (both)" in (tmp_path / "out" / "main.md").read_text()
    assert (tmp_path / "out" / "main.png").stat().st_size > 0
    assert (tmp_path / "cache" / f"student-{task_slug(ablation['task'])}.pt").exists()

    monkeypatch.setattr(experiment, "run_task", lambda *a, **k: pytest.fail("a finished task ran again"))
    again = experiment.run(load_config(ExperimentConfig, path, overrides, section="run"), log=lambda _: None)
    assert len(again["tasks"]) == 2

    # the studies on the same cache, probing the student the run saved
    from mathdistill.encoder_kd.study import StudyConfig, compression_study, probe_study

    study = load_config(StudyConfig, path, {**paths, "methods": ["pca", "lle"],
                                            "students": [str(tmp_path / "cache" / f"student-{task_slug(ablation['task'])}.pt")]},
                        section="study")
    comp = compression_study(study, log=lambda _: None)
    assert [(r["method"], r["dim"]) for r in comp["rows"]] == [("pca", 64), ("pca", 16), ("lle", 64), ("lle", 16)]
    assert all(0 <= r["reconstruction_error"] <= 1.5 and 0 <= r["answer_acc"] <= 1 for r in comp["rows"])
    probes = probe_study(study, log=lambda _: None)
    names = [r["representation"] for r in probes["rows"]]
    assert names[0] == "teacher" and names[-1] == "student (both)" and len(names) == 6
    assert all(0 <= r[p] <= 1 for r in probes["rows"] for p in ("pos", "ner", "relation"))
    for name in ("compression", "probes"):
        assert (tmp_path / "out" / f"{name}.md").read_text().startswith("| ")


@pytest.mark.slow
def test_adding_variants_to_a_finished_task_trains_only_what_they_need(tmp_path, monkeypatch):
    """Rows are kept across reruns: a stage-1 variant added later trains one model, a stage-2 variant
    rebuilds the fine-tuned teacher it distils from but re-records none of the earlier rows, and a
    task file written under another config is refused with its path."""
    import json
    from pathlib import Path

    from mathdistill.config import load_config
    from mathdistill.encoder_kd import experiment, stage1_student, task_runner
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.task_files import task_lock
    from mathdistill.encoder_kd.tasks import task_slug

    task = "mawps:cv0-train>mawps:cv0-dev"
    path = Path(__file__).parent.parent / "configs" / "encoder_kd_tiny.yaml"
    base = {"cache_dir": str(tmp_path / "cache"), "out_dir": str(tmp_path / "out"), "tasks": [task],
            "ablation_tasks": []}
    trained, distilled = [], []
    real_train, real_distill = task_runner.train_solver, task_runner.distill
    monkeypatch.setattr(task_runner, "train_solver", lambda *a, **k: trained.append(1) or real_train(*a, **k))
    for module in (task_runner, stage1_student):  # stage 2 and stage 1
        monkeypatch.setattr(module, "distill", lambda *a, **k: distilled.append(1) or real_distill(*a, **k))

    def run(variants: list[str], **extra) -> dict:
        trained.clear(), distilled.clear()
        cfg = load_config(ExperimentConfig, path, {**base, "variants": variants, **extra}, section="run")
        experiment.run(cfg, log=lambda _: None)
        return json.loads((tmp_path / "out" / "tasks" / f"{task_slug(task)}.json").read_text())

    first = run(["none"])
    assert len(trained) == 4 and not distilled  # frozen, fine-tuned, compressed, student
    second = run(["none", "stage1"])
    assert len(trained) == 1 and len(distilled) == 1  # the stage-1 student, trained on first use
    assert {k: second["rows"][k] for k in first["rows"]} == first["rows"] and "student (stage1)" in second["rows"]
    third = run(["stage2"])
    assert len(trained) == 3 and len(distilled) == 1  # frozen + fine-tuned again, then the student
    assert {k: third["rows"][k] for k in second["rows"]} == second["rows"]
    assert set(third["rows"]) - set(second["rows"]) == {"student (stage2)"} and "stage2" in third["distill_losses"]
    # the retrained teacher starts from the same seed as the first: its scores are the measured ones
    for name in ("teacher (frozen)", "teacher (fine-tuned)"):
        assert third["rebuilt"][name]["answer_acc"] == first["rows"][name]["answer_acc"]
    assert not (tmp_path / "out" / "tasks" / f"{task_slug(task)}.partial.json").exists()
    run(["none", "stage1"])
    assert not trained  # everything asked for is there
    with task_lock(load_config(ExperimentConfig, path, base, section="run"), task) as held:  # as another process would
        assert held
        messages = []
        experiment.run(load_config(ExperimentConfig, path, {**base, "variants": ["both"]}, section="run"),
                       log=messages.append)
        assert not trained and f"{task}: running in another process, skipped" in messages
    with pytest.raises(ValueError, match=f"{task_slug(task)}.json was written under another config"):
        run(["none"], lr=0.01)


def test_aggregate_means_folds_and_keeps_rows_of_unfinished_tasks(tmp_path):
    import json

    from mathdistill.encoder_kd.experiment import ExperimentConfig, aggregate
    from mathdistill.encoder_kd.summary import fold_means
    from mathdistill.encoder_kd.tasks import task_slug

    tasks = ["mawps:cv0-train>mawps:cv0-dev", "mawps:cv1-train>mawps:cv1-dev", "mawps-asdiv-a:train>svamp:test",
             "asdiv-a:cv0-train>asdiv-a:cv0-dev"]
    cfg = ExperimentConfig(tasks=tasks, out_dir=str(tmp_path))
    (tmp_path / "tasks").mkdir()
    speed = {"teacher": 10.0, "student": 100.0, "load_average": [1.0, 1.0, 1.0], "sentences": 5}

    def row(acc: float, params: int) -> dict:
        return {"n": 10, "equation_acc": acc - 0.1, "answer_acc": acc, "params": params}

    for i, (teacher, student) in enumerate([(0.8, 0.6), (0.6, 0.6)]):
        (tmp_path / "tasks" / f"{task_slug(tasks[i])}.json").write_text(json.dumps(
            {"task": tasks[i], "complete": True, "speed": speed,
             "rows": {"teacher (fine-tuned)": row(teacher, 100), "student (both)": row(student, 10)}}))
    (tmp_path / "tasks" / f"{task_slug(tasks[2])}.partial.json").write_text(json.dumps(
        {"task": tasks[2], "complete": False, "speed": speed, "rows": {"teacher (fine-tuned)": row(0.3, 100)}}))
    # fold 1 being extended with a variant: its unfinished file holds the newer rows and wins
    extended = json.loads((tmp_path / "tasks" / f"{task_slug(tasks[1])}.json").read_text())
    extended["rows"]["student (stage1)"], extended["complete"] = row(0.5, 10), False
    (tmp_path / "tasks" / f"{task_slug(tasks[1])}.partial.json").write_text(json.dumps(extended))
    results = aggregate(cfg)
    assert results["missing_tasks"] == [tasks[3]] and results["unfinished_tasks"] == [tasks[1], tasks[2]]
    means = fold_means(results)
    assert means["mawps"]["teacher (fine-tuned)"]["answer_acc"] == pytest.approx(0.7)
    assert means["mawps"]["student (both)"]["folds"] == 2 and "student (both)" not in means["svamp"]
    assert means["mawps"]["student (stage1)"]["folds"] == 1
    table = (tmp_path / "main.md").read_text()
    assert "mawps (2-fold mean)" in table and "0.86" in table  # 0.6 / 0.7 of the fine-tuned teacher
    assert "stopped before their last model" in table and "not run" in table
    assert table.index("| student (stage1) |") < table.index("| student (both) |")  # variants in their order
    assert "| mawps cv0 | mawps cv1 | svamp |" in table  # the per-task table


def test_experiment_config_rejects_bad_fields():
    from mathdistill.encoder_kd.experiment import ExperimentConfig

    task = "asdiv-a:cv0-train>asdiv-a:cv0-dev"
    with pytest.raises(ValueError, match="not among the configured tasks"):
        ExperimentConfig(tasks=[task], only=["mawps:cv0-train>mawps:cv0-dev"])
    with pytest.raises(ValueError, match="unknown student variant 'half'"):
        ExperimentConfig(tasks=[task], variants=["none", "half"])
    with pytest.raises(ValueError, match="TRAIN_SPEC>EVAL_SPEC"):
        ExperimentConfig(tasks=["asdiv-a:cv0-train"])
    with pytest.raises(ValueError, match="shard '2/2'"):
        ExperimentConfig(tasks=[task], shard="2/2")
    with pytest.raises(ValueError, match="unknown stage1_guard 'fuzzy'"):
        ExperimentConfig(tasks=[task], stage1_guard="fuzzy")


def _question(pid: str, question: str) -> Problem:
    dataset, split, key = pid.split("/")
    return Problem(id=pid, dataset=dataset, split=split, key=key, question=question, answer=0.0)


def test_stage1_guard_drops_duplicates_of_evaluation_questions(tokenizer, monkeypatch):
    """The stage-1 corpus loses every question that duplicates an evaluation question: the same text
    once numbers are written one way ("$3.00" = "$ 3"), or a near duplicate (same numbers, a word
    added); a question with the same words but other numbers is another problem and stays."""
    from dataclasses import replace

    from mathdistill import datasets
    from mathdistill.encoder_kd.examples import Example
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.stage1_student import stage1_corpus, stage1_path
    from mathdistill.encoder_kd.tasks import Task

    evaluation = [_question("ev/dev/0", "Dan has $3.00. He bought a candy bar for $1.00. How much money is left?"),
                  _question("ev/dev/1", "Sofia asked 383 students if they liked the food and 431 said they did not. "
                                        "How many students did she ask?")]
    corpus = [_question("pool/train/0", "Dan has $ 3. He bought a candy bar for $ 1. How much money is left?"),
              _question("pool/train/1", "Sofia asked 383 students if they liked the new food and 431 said they did "
                                        "not. How many students did she ask?"),
              _question("pool/train/2", "Dan has $5.00. He bought a candy bar for $2.00. How much money is left?"),
              _question("pool/train/3", "A bus has 40 seats and 12 are empty. How many people sit in the bus?")]
    monkeypatch.setattr(datasets, "load", lambda spec, *a: {"ev:dev": evaluation, "pool:train": corpus}[spec])
    task = Task("ev:train>ev:dev", [], [Example(p, [], [], [], []) for p in evaluation], None, [], 0)
    cfg = ExperimentConfig(tasks=["ev:train>ev:dev"], stage1_corpus=["pool:train"])

    assert cfg.stage1_guard == "near"
    near = stage1_corpus(cfg, tokenizer, [task])
    assert [e.problem.id for e in near.examples] == ["pool/train/2", "pool/train/3"]
    assert near.dropped == {"same text": 1, "near duplicate": 1} and near.guarded == 2
    assert near.examples[0].input_ids == tokenizer(corpus[2].question)["input_ids"]
    # the first runs' rule, kept to reproduce them, saw neither duplicate
    exact = stage1_corpus(replace(cfg, stage1_guard="exact"), tokenizer, [task])
    assert [e.problem.id for e in exact.examples] == ["pool/train/0", "pool/train/1", "pool/train/2", "pool/train/3"]
    assert exact.dropped == {}
    # a different corpus, a different stage-1 student: the rules never share a cached one
    assert stage1_path(cfg) != stage1_path(replace(cfg, stage1_guard="exact"))
    assert near.summary() == {"questions": 2, "guarded": 2, "dropped": {"same text": 1, "near duplicate": 1}}


def test_stage1_guard_leaves_the_committed_digests_alone():
    """The rule was added after results/encoder_kd* were measured (under "exact"): committed task files
    stay resumable under either rule, and an "exact" stage-1 student keeps its old cache file name."""
    from dataclasses import replace
    from pathlib import Path

    from mathdistill.config import load_config
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.stage1_student import stage1_spec
    from mathdistill.encoder_kd.task_files import rows_digest

    cfg = load_config(ExperimentConfig, Path(__file__).parent.parent / "configs" / "encoder_kd_cpu.yaml", section="run")
    assert rows_digest(cfg) == rows_digest(replace(cfg, stage1_guard="exact")) == "e04def2ab5e3"
    assert "guard_rule" not in stage1_spec(replace(cfg, stage1_guard="exact"))
    assert stage1_spec(cfg)["guard_rule"] == "near"


def test_decoder_never_points_past_its_slots(tokenizer):
    """An evaluation question with more numbers than any training question (MAWPS fold 1 has one)."""
    examples, vocab = _toy_examples(tokenizer, 8)  # two numbers per training question
    many = Problem(id="toy/t/many", dataset="toy", split="t", key="many",
                   question="Ann has 3 red, 4 blue and 5 green pens. How many pens?", answer=12.0,
                   equation="3+4+5", numbers=(3.0, 4.0, 5.0))
    kept, _ = make_examples([many], tokenizer, vocab, keep_unencodable=True)
    solver = Solver(GTSDecoder(32, vocab, hidden=16, dropout=0.0), _tiny_student(tokenizer))
    for _ in range(3):  # random decoders: any slot may win unless the extra ones are masked
        torch.nn.init.normal_(solver.decoder.leaf_score.weight, std=5.0)
        preds = solver.predict(collate(kept + examples[:2], tokenizer.pad_token_id))
        assert all(t in vocab.tokens for p in preds for t in p)
