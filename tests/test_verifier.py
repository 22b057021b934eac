"""The verifier (issue 18): gold-free features, selection, the metrics (AUROC, ECE, coverage, the
threshold), training on training problems only, calibration and threshold on validation only,
evaluation, regrading from the written files, loading, and the cross-encoder scorer on a tiny model."""

import gzip
import itertools
import json
import random

import numpy as np
import pytest

from mathdistill import datasets as ds
from mathdistill.config import ConfigError, load_config
from mathdistill.jsonl import RecordError
from mathdistill.verifier import Verifier, select
from mathdistill.verifier import metrics as M
from mathdistill.verifier.features import NAMES, Candidate, numbers_in, pool_features
from mathdistill.verifier.logistic import Logistic
from mathdistill.verifier.pools import is_validation, load_pools
from mathdistill.verifier.run import VerifierEvalConfig, VerifierTrainConfig, regrade, run_train, run_verifier_eval


def cand(thought, answer, sample=0, correct=False, text=""):
    return {"thought": thought, "sample": sample, "answer": answer, "correct": correct, "text": text}


# ---------------------------------------------------------------------------------------------
# features


def test_features_read_neither_gold_nor_label():
    q = "Tom has 12 apples and buys 30 more. He gives 5 away. How many apples does he have?"
    pool = [cand("pot", "37", text="apples = 12\nbought = 30\nans = apples + bought - 5", correct=True),
            cand("eot", "42", text="ans = 12 + 30", correct=False),
            cand("cot", "37", text="12 + 30 = 42. 42 - 5 = 37. The answer is 37.", correct=True)]
    flipped = [{**c, "correct": not c["correct"], "reason": "anything", "gold": 1} for c in pool]
    a = pool_features(q, [Candidate.from_row(c) for c in pool])
    b = pool_features(q, [Candidate.from_row(c) for c in flipped])
    assert a == b
    f = [dict(zip(NAMES, row)) for row in a]
    assert f[0]["thought_pot"] == 1 and f[0]["thought_cot"] == 0
    assert f[0]["agreement"] == pytest.approx(2 / 3) and f[1]["agreement"] == pytest.approx(1 / 3)
    assert f[0]["agreeing_thoughts"] == pytest.approx(2 / 3)
    assert f[0]["question_numbers_used"] == 1.0 and f[1]["question_numbers_used"] == pytest.approx(2 / 3)
    assert f[2]["prose_new_numbers"] > 0 and f[2]["invented_literals"] == 0  # 42 and 37 are prose results


def test_features_of_failed_and_odd_answers():
    q = "A box holds 8 pens. How many pens are in 3 boxes?"
    pool = [cand("pot", None, text="ans = pens * boxes"), cand("eot", "-24", text="ans = 8 * 3 * 1000 / 1000"),
            cand("cot", "8", text="There are 8 pens. The answer is 8."), cand("cot", "2.5", sample=1, text="x")]
    f = [dict(zip(NAMES, row)) for row in pool_features(q, [Candidate.from_row(c) for c in pool])]
    assert f[0]["answered"] == 0 and f[0]["agreement"] == 0
    assert f[1]["negative"] == 1 and f[1]["whole"] == 1 and f[1]["most_plausible_tier"] == 0
    assert f[2]["repeats_question_number"] == 1 and f[2]["most_plausible_tier"] == 1
    assert f[3]["whole"] == 0 and f[3]["most_plausible_tier"] == 0
    assert f[2]["agreement_within_thought"] == pytest.approx(1 / 2)
    assert numbers_in("It costs $1,200.50 for 3 days, not x2.") == {1200.5, 3.0}


def test_prose_arithmetic_is_checked_without_eval():
    from mathdistill.verifier.features import prose_arithmetic

    assert prose_arithmetic("43 - 21 = 20. The answer is 20.") == (1, 1, [20.0])
    assert prose_arithmetic("3 x 4 = 12 and (12 + 3) / 5 = 3, so 10 / 3 = 3.33") == (3, 0, [12.0, 3.0, 3.33])
    assert prose_arithmetic("$1,200 - $200 = $1,000") == (1, 0, [1000.0])
    assert prose_arithmetic("2x + 3 = 7; 5 / 0 = 1; __import__('os') = 3") == (0, 0, [])  # not calculations
    q = "Ann had 43 apples and gave 21 away. How many are left?"
    pool = [cand("cot", "20", text="43 - 21 = 20. The answer is 20."),
            cand("cot", "22", sample=1, text="43 - 21 = 22. The answer is 22."),
            cand("cot", "64", sample=2, text="She has 43 + 21 = 64 apples. The answer is 60 + 4."),
            cand("cot", "7", sample=3, text="She has 43 + 21 = 64 apples. The answer is 7."),
            cand("pot", "20", text="ans = 43 - 21 - 2")]
    f = [dict(zip(NAMES, row)) for row in pool_features(q, [Candidate.from_row(c) for c in pool])]
    assert [x["prose_arithmetic_errors"] for x in f] == [1.0, 0.0, 0.0, 0.0, 0.0]  # programs are computed exactly
    assert [x["prose_answer_unsupported"] for x in f] == [0.0, 0.0, 0.0, 1.0, 0.0]


# ---------------------------------------------------------------------------------------------
# logistic regression


def test_logistic_learns_the_direction_and_round_trips():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))).astype(float)
    model = Logistic.fit(x, y)
    w = np.asarray(model.weights) / np.asarray(model.scale)
    assert w[0] > 1.5 and w[1] < -0.6 and abs(w[2]) < 0.2
    again = Logistic.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.predict(x[:5]), model.predict(x[:5]))
    assert np.all((model.predict(x) > 0) & (model.predict(x) < 1))
    with pytest.raises(ValueError, match="expected x of shape"):
        Logistic.fit(np.zeros(3), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# metrics


def test_auroc_matches_counting_pairs():
    assert M.auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert M.auroc([0.1, 0.2, 0.9], [True, True, False]) == 0.0
    assert M.auroc([0.5, 0.5], [True, False]) == 0.5
    assert M.auroc([0.3, 0.4], [True, True]) is None
    rng = random.Random(1)
    s = [rng.choice([0.1, 0.2, 0.3, 0.5, 0.9]) for _ in range(200)]
    y = [rng.random() < 0.3 + 0.5 * v for v in s]
    pos = [a for a, r in zip(s, y) if r]
    neg = [a for a, r in zip(s, y) if not r]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert M.auroc(s, y) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_ece_and_reliability():
    conf = [0.95] * 20 + [0.25] * 20
    right = [True] * 19 + [False] + [True] * 5 + [False] * 15
    assert M.ece(conf, right) == pytest.approx(0.5 * abs(0.95 - 0.95) + 0.5 * abs(0.25 - 0.25))
    bins = M.reliability([0.05, 0.95, 1.0], [False, True, False])
    assert bins[0]["n"] == 1 and bins[-1]["n"] == 2 and bins[-1]["accuracy"] == 0.5
    assert M.ece([0.9, 0.9], [False, False]) == pytest.approx(0.9)


def test_coverage_threshold_and_ties():
    conf = [0.9, 0.8, 0.8, 0.5, 0.2]
    right = [True, True, False, True, False]
    assert M.answered_at(conf, right, 0.8) == {"threshold": 0.8, "answered": 3, "correct": 2, "coverage": 0.6,
                                               "accuracy": 0.6667, "stderr": 0.2722}
    assert M.accuracy_at_coverage(conf, right, 0.4)["answered"] == 3  # the two 0.8s go together
    chosen = M.choose_threshold(conf, right, target_accuracy=0.75, min_answered=1)
    assert chosen["threshold"] == 0.5 and chosen["accuracy"] == 0.75  # lowest threshold reaching 75%
    assert M.choose_threshold(conf, right, 0.75, min_answered=5)["threshold"] is None
    assert "no threshold reaches" in M.choose_threshold([0.9, 0.5], [False, True], 0.9, min_answered=1)["reason"]


# ---------------------------------------------------------------------------------------------
# selection


def test_selection_methods():
    pool = [cand("cot", "5", 0, False), cand("cot", "5", 1, False), cand("pot", "7", 0, True),
            cand("eot", "7.0", 0, True), cand("eot", "-5", 1, False), cand("pot", None, 1)]
    v = select(pool, None, "vote")
    assert (v.answer, v.support, v.correct) == ("7.0", 2, True)  # 2-2 tie: the EoT group is opened first
    assert v.confidence == pytest.approx(2 / 6)
    scores = [0.9, 0.1, 0.3, 0.3, 0.2, 0.0]
    best = select(pool, scores, "verifier")
    assert (best.answer, best.confidence) == ("5", 0.9)
    weighted = select(pool, scores, "verifier_vote")
    assert weighted.answer == "5" and weighted.confidence == pytest.approx(1.0 / 1.8)
    assert select(pool, None, "plausible").support == 2
    assert select([cand("pot", None)], [0.5], "verifier").answer is None
    with pytest.raises(ValueError, match="one score per candidate"):
        select(pool, [0.1], "verifier_vote")
    with pytest.raises(ValueError, match="unknown selection"):
        select(pool, None, "best")


# ---------------------------------------------------------------------------------------------
# train and evaluate on synthetic candidates of real problems


def synthetic(path, spec, n, k=2, seed=0, model="student-x"):
    """Candidates whose right answers agree and are whole, and whose wrong ones are often negative,
    fractional or a copied question number: a verifier should find these regularities."""
    rng = random.Random(seed)
    rows = []
    for p in ds.load(spec)[:n]:
        skill = rng.random()
        for t in ("cot", "pot", "eot"):
            for j in range(k):
                if rng.random() < skill:
                    a, ok = f"{p.answer:g}", True
                else:
                    a, ok = rng.choice([f"{-p.answer - 1:g}", f"{p.answer + 0.5:g}", f"{p.numbers[0]:g}" if p.numbers
                                        else "3", f"{p.answer + rng.randint(1, 9):g}", None]), False
                    ok = False if a is None else abs(float(a) - p.answer) < 1e-9
                rows.append({"id": p.id, "split": spec, "thought": t, "sample": j, "text": f"ans = {a}",
                             "answer": a, "correct": ok, "reason": "x", "model": model, "fingerprint": "f"})
    path.mkdir(parents=True, exist_ok=True)
    (path / "candidates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("verifier")
    train = synthetic(root / "train", "mawps-asdiv-a:train", 400, seed=1)
    out = {}
    for scorer in ("agreement", "features", "features_no_agreement"):
        cfg = VerifierTrainConfig(candidates=[train], scorer=scorer, out=str(root / scorer), target_accuracy=0.7,
                                  eval_splits=["svamp:test"])
        out[scorer] = (run_train(cfg), root / scorer)
    return root, train, out


def test_train_holds_out_validation_by_problem(trained):
    root, train, out = trained
    info, path = out["features"]
    assert info["fit_problems"] + info["validation_problems"] == 400
    assert 40 < info["validation_problems"] < 120
    v = Verifier.load(path)
    assert v.scorer == "features" and set(v.calibration) == {"vote", "plausible", "verifier", "verifier_vote"}
    assert v.meta["trained_on"] == ["mawps-asdiv-a:train"]
    share = sum(is_validation(f"id-{i}", 0.2, 0) for i in range(5000)) / 5000
    assert 0.18 < share < 0.22
    assert [is_validation(f"id-{i}", 0.2, 0) for i in range(100)] != [is_validation(f"id-{i}", 0.2, 1) for i in range(100)]
    ids = [f"mawps-asdiv-a/train/{i}" for i in range(200)]
    assert [is_validation(i, 0.2, 0) for i in ids] == [is_validation(i.replace("/train/", "/train+distractors/"), 0.2, 0)
                                                        for i in ids]  # a variant goes where its source goes
    # the features scorer separates right from wrong better than agreement alone on its validation part
    assert info["validation"]["verifier"]["auroc"] > out["agreement"][0]["validation"]["verifier"]["auroc"]


def test_calibration_and_threshold_come_from_validation_only(trained, tmp_path):
    root, train, out = trained
    v = Verifier.load(out["features"][1])
    pools, _ = load_pools([train], ["cot", "pot", "eot"], None)
    val = [p for p in pools if is_validation(p.id, 0.2, 0)]
    scores = v.score_pools([(p.question, p.candidates) for p in val])
    sels = [select(p.candidates, s, "verifier_vote") for p, s in zip(val, scores)]
    answered = [s for s in sels if s.answer is not None]
    platt = Logistic.fit(np.asarray([[s.confidence] for s in answered]), np.asarray([s.correct for s in answered]),
                         l2=1e-2)  # refitted on the validation problems alone
    assert np.allclose(platt.weights, v.calibration["verifier_vote"].weights)
    conf = [float(platt.predict(np.asarray([s.confidence]))[0]) if s.answer is not None else None for s in sels]
    assert M.choose_threshold(conf, [s.correct for s in sels], 0.7) == v.thresholds["verifier_vote"]


def test_scores_do_not_read_the_labels(trained):
    v = Verifier.load(trained[2]["features"][1])
    pools, _ = load_pools([trained[1]], ["cot", "pot", "eot"], None)
    flipped = [(p.question, [{**c, "correct": not c["correct"], "reason": "?"} for c in p.candidates]) for p in pools]
    assert v.score_pools([(p.question, p.candidates) for p in pools]) == v.score_pools(flipped)


def test_training_refuses_evaluation_splits(tmp_path):
    svamp = synthetic(tmp_path / "svamp", "svamp:test", 30)
    with pytest.raises(RecordError, match="evaluation split.*svamp:test.*training problems only"):
        run_train(VerifierTrainConfig(candidates=[svamp], out=str(tmp_path / "v")))


def test_evaluate_beats_vote_and_regrades(trained, tmp_path):
    root, _, out = trained
    svamp = synthetic(tmp_path / "svamp", "svamp:test", 300, seed=2)
    cfg = VerifierEvalConfig(candidates=[svamp], verifiers=[str(out[s][1]) for s in out], out=str(tmp_path / "eval"))
    result = run_verifier_eval(cfg)
    rows = result["splits"]["svamp:test"]["rows"]
    assert set(rows) == {"vote", "plausible", *(f"{m}:{s}" for m in ("verifier", "verifier_vote") for s in out)}
    assert rows["verifier_vote:features"]["accuracy"] > rows["vote"]["accuracy"]
    assert rows["verifier_vote:features"]["at_coverage"]["accuracy"] > rows["verifier_vote:features"]["accuracy"]
    for m in rows.values():
        assert m["n"] == 300 and 0 <= m["ece"] <= 1 and m["curve"][-1]["coverage"] == 1.0
    assert (tmp_path / "eval" / "report.md").read_text().count("## svamp:test") == 1
    with gzip.open(tmp_path / "eval" / "scores.jsonl.gz", "rt") as f:
        assert sum(1 for _ in f) == 300 * 6 * 3
    assert regrade(tmp_path / "eval", [svamp]) == json.loads((tmp_path / "eval" / "metrics.json").read_text())["splits"]
    # a verifier is never evaluated on the split it was trained on
    train = synthetic(tmp_path / "train_again", "mawps-asdiv-a:train", 20)
    with pytest.raises(RecordError, match="was trained on mawps-asdiv-a:train"):
        run_verifier_eval(VerifierEvalConfig(candidates=[train], verifiers=[str(out["features"][1])],
                                             out=str(tmp_path / "e2")))


def test_decide_abstains_below_the_threshold(trained):
    v = Verifier.load(trained[2]["features"][1])
    q = ds.load("svamp:test")[0].question
    agree = [cand(t, "51", j) for t in ("cot", "pot", "eot") for j in range(2)]
    split = [cand(t, a, j) for (t, j), a in zip(itertools.product(("cot", "pot", "eot"), (0, 1)),
                                                ("3", "4", "101", "102", "7", "9"))]  # six answers, no two agree
    sure, unsure = v.decide(q, agree), v.decide(q, split)
    assert sure.answer == "51" and sure.confidence > unsure.confidence
    assert not sure.abstain and unsure.abstain
    assert v.decide(q, [cand("pot", None)]).abstain


def test_loading_errors(tmp_path, trained):
    with pytest.raises(FileNotFoundError, match="no verifier.json"):
        Verifier.load(tmp_path)
    data = json.loads((trained[2]["features"][1] / "verifier.json").read_text())
    data["feature_names"] = data["feature_names"][:-1]
    (tmp_path / "verifier.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="verifier.json: not a usable verifier: its features"):
        Verifier.load(tmp_path)
    student = tmp_path / "student"
    (student / "verifier").mkdir(parents=True)
    (student / "verifier" / "verifier.json").write_text((trained[2]["agreement"][1] / "verifier.json").read_text())
    assert Verifier.load(student).scorer == "agreement"  # a student dir holding verifier/


def test_config_checks():
    with pytest.raises(ConfigError, match="validation"):
        load_config(VerifierTrainConfig, overrides={"candidates": ["x"], "validation": 1.5})
    with pytest.raises(ConfigError, match="cross_encoder scorer only"):
        load_config(VerifierTrainConfig, overrides={"candidates": ["x"], "max_train": 10})
    with pytest.raises(RecordError, match="no candidates.jsonl"):
        load_pools(["/nonexistent/run"], ["pot"], None)


def test_pools_are_complete_and_of_one_student(tmp_path):
    a = synthetic(tmp_path / "a", "mawps-asdiv-a:train", 5, k=3)
    rows = [json.loads(line) for line in (tmp_path / "a" / "candidates.jsonl").read_text().splitlines()]
    short = [r for r in rows if not (r["id"] == rows[0]["id"] and r["thought"] == "eot" and r["sample"] == 2)]
    (tmp_path / "a" / "candidates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in short))
    pools, read = load_pools([a], ["cot", "pot", "eot"], None)
    assert (read["k"], read["problems"], read["incomplete"]) == (3, 4, 1)  # a stopped run's short problem
    assert all(len(p.candidates) == 9 for p in pools)
    assert load_pools([a], ["cot", "pot", "eot"], 2)[1]["problems"] == 5
    b = synthetic(tmp_path / "b", "mawps-asdiv-a:train", 5, model="other", seed=9)
    rows = [json.loads(line) for line in (tmp_path / "b" / "candidates.jsonl").read_text().splitlines()]
    (tmp_path / "b" / "candidates.jsonl").write_text("".join(json.dumps({**r, "fingerprint": "g"}) + "\n" for r in rows))
    with pytest.raises(RecordError, match="2 different students"):
        load_pools([a, b], ["cot", "pot", "eot"], None)


# ---------------------------------------------------------------------------------------------
# the cross-encoder scorer, on a tiny random encoder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from mathdistill.models import resolve_hf

    tok = AutoTokenizer.from_pretrained(resolve_hf("all-mpnet-base-v2"))
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=1,
                                                     max_position_embeddings=512))
    out = tmp_path_factory.mktemp("encoder") / "tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def test_cross_encoder_trains_saves_and_scores(tiny_encoder, tmp_path):
    train = synthetic(tmp_path / "train", "mawps-asdiv-a:train", 60, seed=3)
    info = run_train(VerifierTrainConfig(candidates=[train], scorer="cross_encoder", encoder=tiny_encoder,
                                         out=str(tmp_path / "ce"), max_train=200, batch_size=8, max_len=64,
                                         eval_splits=["svamp:test"]))
    assert info["fit"]["candidates"] == 6 * info["fit_problems"] > 200
    assert info["fit"]["cross_encoder"]["examples"] == 200  # the seeded subset
    v = Verifier.load(tmp_path / "ce")
    assert (tmp_path / "ce" / "cross_encoder" / "config.json").is_file() and v.score_calibration is not None
    pools, _ = load_pools([train], ["cot", "pot", "eot"], None)
    scores = v.score_pools([(p.question, p.candidates) for p in pools[:3]])
    assert [len(s) for s in scores] == [6, 6, 6] and all(0 < x < 1 for s in scores for x in s)
    assert scores == Verifier.load(tmp_path / "ce").score_pools([(p.question, p.candidates) for p in pools[:3]])


# ---------------------------------------------------------------------------------------------
# where one greedy answer per thought is judged: evaluate --set select=..., solve, serve


def test_greedy_uses_refuse_a_verifier_of_sampled_pools(trained, tmp_path):
    from mathdistill.verifier.apply import VerifierMismatch, load_for_greedy

    with pytest.raises(VerifierMismatch, match=r"k=2 candidates per thought.*--k 1 --temperature 0"):
        load_for_greedy(str(trained[2]["features"][1]), "unused")
    with pytest.raises(VerifierMismatch, match="no verifier.json"):
        load_for_greedy(None, str(tmp_path))


def test_evaluate_select_verifier_adds_confidence_and_abstention(tmp_path):
    from mathdistill.evaluate.run import EvalConfig, run_evaluate
    from mathdistill.verifier.apply import evaluation_selector

    train = tmp_path / "train"
    synthetic(train, "mawps-asdiv-a:train", 300, k=1, seed=4)
    rows = [json.loads(line) for line in (train / "candidates.jsonl").read_text().splitlines()]
    (train / "candidates.jsonl").write_text("".join(json.dumps({**r, "temperature": 0.0}) + "\n" for r in rows))
    run_train(VerifierTrainConfig(candidates=[str(train)], out=str(tmp_path / "student" / "verifier"),
                                  target_accuracy=0.6, eval_splits=["svamp:test"]))
    problems = ds.load("svamp:test")[:4]
    texts = {"pot": "ans = {a}", "eot": "ans = {a}", "cot": "The answer is {a}."}
    out = tmp_path / "eval"
    out.mkdir()
    preds = [{"id": p.id, "thought": t, "text": text.format(a=f"{p.answer:g}" if i % 2 == 0 else i + 100),
              "split": "svamp:test", "model": "m", "fingerprint": "f"}
             for i, p in enumerate(problems) for t, text in texts.items()]
    (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in preds))
    cfg = EvalConfig(model=str(tmp_path / "student"), splits=["svamp:test"], limit=4, out=str(out),
                     regrade_only=True, select="verifier_vote")
    with pytest.raises(ValueError, match="select=verifier_vote needs the verifier"):
        run_evaluate(cfg)
    metrics = run_evaluate(cfg, selector=evaluation_selector(None, cfg.model, cfg.select))
    sel = metrics["splits"]["svamp:test"]["selection"]
    assert sel["method"] == "verifier_vote" and sel["n"] == 4 and sel["correct"] == 2 and sel["scorer"] == "features"
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert [v["selected"]["correct"] for v in verdicts] == [True, False, True, False]
    assert all(0 <= v["selected"]["confidence"] <= 1 and isinstance(v["selected"]["abstain"], bool) for v in verdicts)


def test_edge_cases_of_calibration_and_abstention(tmp_path):
    from mathdistill.verifier.run import platt

    const, why = platt(np.asarray([0.2, 0.9, 0.5]), np.asarray([1.0, 1.0, 1.0]))
    assert why.startswith("constant: every") and const.predict(np.asarray([0.1]))[0] == pytest.approx(4 / 5)
    backwards, why = platt(np.asarray([0.9, 0.8, 0.2, 0.1] * 5), np.asarray([0.0, 0.0, 1.0, 1.0] * 5))
    assert why.startswith("constant: higher scores") and backwards.weights == [0.0]
    v = Verifier(scorer="agreement", thresholds={"verifier_vote": {"threshold": 0.5}})
    nothing = v.decide("q 1 2", [cand(t, None) for t in ("cot", "pot", "eot")])
    assert (nothing.answer, nothing.confidence, nothing.abstain) == (None, None, True)
    # problems with no answer never count as answered, whatever the threshold
    assert M.answered_at([None, 0.2, 0.9], [False, False, True], 0.0)["answered"] == 2
    assert M.choose_threshold([None] * 5 + [0.9] * 20, [False] * 5 + [True] * 20, 0.8)["threshold"] == 0.9
    assert M.ece([None, 0.9], [False, True]) == pytest.approx(0.1)


def test_evaluation_checks_the_pools_and_the_guard(trained, tmp_path):
    root, _, out = trained
    k1 = synthetic(tmp_path / "k1", "svamp:test", 20, k=1)
    with pytest.raises(RecordError, match=r"calibrated on pools of k=2, these candidates have k=1"):
        run_verifier_eval(VerifierEvalConfig(candidates=[k1], verifiers=[str(out["features"][1])], out=str(tmp_path / "e")))
    gsm = synthetic(tmp_path / "gsm", "gsm8k:test", 20)
    with pytest.raises(RecordError, match=r"not checked against gsm8k:test: train it with --eval-split gsm8k:test"):
        run_verifier_eval(VerifierEvalConfig(candidates=[gsm], verifiers=[str(out["features"][1])], out=str(tmp_path / "e")))


def test_training_leaves_out_duplicates_of_evaluation_questions(tmp_path):
    train = synthetic(tmp_path / "train", "mawps-asdiv-a:train", 300, seed=5)
    info = run_train(VerifierTrainConfig(candidates=[train], out=str(tmp_path / "v"), eval_splits=["multiarith:test"]))
    assert info["contamination"]["left_out"] > 0  # MAWPS holds MultiArith: those problems are kept out
    assert info["fit_problems"] + info["validation_problems"] == 300 - info["contamination"]["left_out"]
    assert info["guarded"] == ["multiarith:test"]
    svamp = tmp_path / "svamp"
    synthetic(svamp, "svamp:test", 20)
    rows = (svamp / "candidates.jsonl").read_text()
    (svamp / "candidates.jsonl").write_text(rows.replace('"svamp:test"', '"SVAMP:test"'))  # names are normalised
    with pytest.raises(RecordError, match="evaluation split.*SVAMP:test"):
        run_train(VerifierTrainConfig(candidates=[str(svamp)], out=str(tmp_path / "v2"), eval_splits=["svamp:test"]))
