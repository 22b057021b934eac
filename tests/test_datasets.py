"""Every split loads from the real files with the right counts, ids and spot-checked answers."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from mathdistill import datasets as ds
from mathdistill.datasets import files

COUNTS = {
    "gsm8k:train": 7473, "gsm8k:test": 1319, "svamp:test": 1000, "multiarith:test": 600,
    "asdiv:test": 2084, "mawps:all": 2373, "mawps:train": 1898, "mawps:valid": 237, "mawps:test": 238,
    "math23k:all": 23162, "math23k:train": 21162, "math23k:valid": 1000, "math23k:test": 1000,
    "mawps-asdiv-a:train": 3138,
}


@pytest.mark.parametrize("spec,count", COUNTS.items())
def test_split_counts_and_ids(spec, count):
    problems = ds.load(spec)
    assert len(problems) == count
    prefix = spec.replace(":", "/") + "/"
    assert all(p.id.startswith(prefix) and p.id == prefix + p.key for p in problems)
    assert len({p.id for p in problems}) == count
    assert all(isinstance(p.answer, float) and p.question for p in problems)


def test_five_fold_splits_partition_the_data():
    # the SVAMP paper's files: every fold is the whole set; MAWPS has one problem in no dev fold
    for name, total, dev_total in (("mawps", 1921, 1920), ("asdiv-a", 1217, 1217)):
        dev_questions = []
        for k in range(5):
            train, dev = ds.load(f"{name}:cv{k}-train"), ds.load(f"{name}:cv{k}-dev")
            assert len(train) + len(dev) == total
            dev_questions += [p.question for p in dev]
            assert not {p.question for p in dev} & {p.question for p in train} - _duplicated(name)
        assert len(dev_questions) == dev_total


def _duplicated(name):
    # a few problems occur twice in the source with the same text; they may straddle folds
    seen, dup = set(), set()
    for k in range(5):
        for p in ds.load(f"{name}:cv{k}-dev"):
            (dup if p.question in seen else seen).add(p.question)
    return dup


def test_math23k_standard_split_is_disjoint():
    test = {p.key for p in ds.load("math23k:test")}
    valid = {p.key for p in ds.load("math23k:valid")}
    train = {p.key for p in ds.load("math23k:train")}
    assert not (test & train) and not (valid & train) and len(test | valid | train) == 23162


@pytest.mark.parametrize("pid,answer,needle", [
    ("gsm8k/train/0", 72, "Natalia sold clips to 48"),
    ("gsm8k/test/0", 18, "Janet’s ducks lay 16 eggs"),
    ("gsm8k/test/1318", 14, "Henry and 3 of his friends order 7 pizzas"),  # the last: keys are 0-based positions
    ("svamp/test/chal-1", 51, "Each pack of dvds costs 76 dollars"),
    ("multiarith/test/0", 39, "Debby and her sister"),
    ("asdiv/test/nluds-0001", 9, "Seven red apples and two green apples"),
    ("mawps/all/1", 504, "56 books in each of his 9 bookshelves"),
    ("math23k/test/35", 880, "44棵柳树"),
    ("math23k/all/1", 20, "每隔2米"),
    ("mawps-asdiv-a/train/0", 504, "Bryan has 56 books in each of his 9 bookshelves"),
])
def test_spot_checks(pid, answer, needle):
    p = ds.get(pid)
    assert p.answer == answer
    assert needle in p.question


def test_answer_formats_are_read():
    # Math23K writes fractions, mixed numbers and percentages; GSM8K uses thousands separators
    by_key = {p.key: p for p in ds.load("math23k:all")}
    assert abs(by_key["1"].answer - 20) < 1e-9
    fractions = [p for p in ds.load("math23k:all") if not float(p.answer * 1000).is_integer()]
    assert fractions, "repeating fractions such as 4/7 should survive as non-terminating floats"
    big = [p for p in ds.load("gsm8k:train") if p.answer >= 1000]
    assert big and all(float(p.answer).is_integer() for p in big[:50])


def test_numbers_in_question():
    p = ds.get("svamp/test/chal-1")
    assert p.numbers == (76.0, 25.0)
    assert ds.numbers_in("He paid $1,250.50 for 3 items, 50% off") == (1250.5, 3.0, 50.0)
    assert ds.get("math23k/test/35").numbers[:2] == (4.0, 44.0)


def test_bad_names_are_clear():
    with pytest.raises(ds.DataError, match="unknown dataset 'nope'"):
        ds.load("nope:test")
    with pytest.raises(ds.DataError, match="unknown split gsm8k:dev; gsm8k has: train, test"):
        ds.load("gsm8k:dev")
    with pytest.raises(ds.DataError, match="no problem with id"):
        ds.get("gsm8k/test/99999")


def _mirror(tmp_path: Path, data_root: Path, broken: str, content: bytes) -> Path:
    """A data root with symlinks to the real files except one replaced file."""
    for rel in files.FILES:
        dst = tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel == broken:
            dst.write_bytes(content)
        else:
            dst.symlink_to(data_root / rel)
    return tmp_path


def test_truncated_jsonl_names_file_and_line(tmp_path, data_root, monkeypatch):
    original = (data_root / "gsm8k/test.jsonl").read_bytes()
    cut = original[: original.index(b"\n", 5000) + 40]  # ends in the middle of a record
    root = _mirror(tmp_path, data_root, "gsm8k/test.jsonl", cut)
    monkeypatch.setenv("MATHDISTILL_DATA", str(root))
    line = cut.count(b"\n") + 1
    with pytest.raises(ds.DataError, match=rf"test.jsonl:{line}: not valid JSON"):
        ds.gsm8k.load("test")


def test_truncated_at_line_boundary_fails_checksum(tmp_path, data_root, monkeypatch):
    original = (data_root / "svamp/mawps-asdiv-a_svamp/train.csv").read_bytes()
    cut = original[: original.index(b"\n", 20000) + 1]
    root = _mirror(tmp_path, data_root, "svamp/mawps-asdiv-a_svamp/train.csv", cut)
    monkeypatch.setenv("MATHDISTILL_DATA", str(root))
    with pytest.raises(ds.DataError, match="train.csv: SHA-256 does not match"):
        ds.svamp.load_mawps_asdiv_a("train")


def test_download_into_cache_checks_sha256(tmp_path, data_root, monkeypatch):
    """Without MATHDISTILL_DATA, missing files come from the canonical URL and are checksummed.
    (file:// URLs stand in for GitHub here: the machine running the tests may be offline.)"""
    monkeypatch.delenv("MATHDISTILL_DATA", raising=False)
    monkeypatch.delenv(files.ENV_OFFLINE, raising=False)
    monkeypatch.setattr(files, "roots", lambda: [tmp_path / "cache"])
    sha, _ = files.FILES["svamp/SVAMP.json"]
    monkeypatch.setitem(files.FILES, "svamp/SVAMP.json", (sha, (data_root / "svamp/SVAMP.json").as_uri()))
    path = files.data_file("svamp/SVAMP.json")
    assert path == tmp_path / "cache/svamp/SVAMP.json" and files.sha256(path) == sha

    # a zip member (Math23K is distributed zipped)
    import zipfile

    archive = tmp_path / "Math_23K.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(data_root / "math23k/Math_23K.json", "Math_23K.json")
    sha, _ = files.FILES["math23k/Math_23K.json"]
    monkeypatch.setitem(files.FILES, "math23k/Math_23K.json", (sha, archive.as_uri() + "#Math_23K.json"))
    assert files.sha256(files.data_file("math23k/Math_23K.json")) == sha

    # a download whose digest is wrong is refused and not kept
    monkeypatch.setitem(files.FILES, "gsm8k/test.jsonl", ("0" * 64, (data_root / "gsm8k/test.jsonl").as_uri()))
    with pytest.raises(ds.DataError, match="SHA-256"):
        files.data_file("gsm8k/test.jsonl")
    assert not (tmp_path / "cache/gsm8k/test.jsonl").exists()


def test_offline_message_names_paths_and_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("MATHDISTILL_DATA", raising=False)
    monkeypatch.setenv(files.ENV_OFFLINE, "1")
    monkeypatch.setattr(files, "roots", lambda: [tmp_path / "cache"])
    with pytest.raises(ds.DataError) as e:
        files.data_file("gsm8k/test.jsonl")
    message = str(e.value)
    assert str(tmp_path / "cache/gsm8k/test.jsonl") in message and "MATHDISTILL_DATA" in message


def test_distractor_split_adds_one_unneeded_statement_about_somebody_else():
    from mathdistill.datasets.distractors import sentences
    from mathdistill.teachers.gold import convert

    base = {p.key: p for p in ds.load("mawps-asdiv-a:train")}
    aug = ds.load("mawps-asdiv-a:train+distractors")
    assert len(aug) >= 0.95 * len(base)
    assert [p.id for p in aug] == [p.id for p in ds.load("mawps-asdiv-a:train+distractors")]  # deterministic
    on_topic = 0
    for q in aug:
        p = base[q.key]
        assert q.id == f"mawps-asdiv-a/train+distractors/{p.key}" and q.meta["source"] == p.id
        assert (q.answer, q.equation, q.dataset) == (p.answer, p.equation, p.dataset)
        extra = q.meta["distractor"]
        assert [s for s in sentences(q.question) if s != extra] == sentences(p.question)
        assert sentences(q.question)[-1] == sentences(p.question)[-1]  # the question still comes last
        assert q.numbers == ds.numbers_in(q.question) and len(q.numbers) == len(p.numbers) + 1
        (value,) = ds.numbers_in(extra)
        assert value not in p.numbers and value != p.answer
        assert extra.split()[0] not in p.question.replace("?", " ").split() and q.meta["donor"] != p.id  # somebody else
        on_topic += bool({w for w in extra.lower().split() if len(w) > 3} & set(p.question.lower().split()))
    assert on_topic > len(aug) / 2
    assert ds.get(aug[5].id) == aug[5]
    # the gold teacher still writes verified rationales for them, none using the distractor's number
    from mathdistill.verify import verify
    from mathdistill.rationales import Rationale

    sample = aug[:150]
    made = [r for q in sample for r in convert(q)[0]]
    assert len(made) >= 0.97 * 3 * len(sample)
    verdicts = verify([Rationale(r.id, r.thought, r.text) for r in made], ds.by_id(sample), policy="strict")
    assert sum(v.correct for v in verdicts) >= 0.97 * len(made)


@pytest.mark.slow  # distractors for all 7,473 GSM8K training problems
def test_distractor_suffix_works_on_any_split():
    assert len(ds.load("gsm8k:train+distractors")) > 7000


def test_distractor_suffix_is_named_in_errors():
    with pytest.raises(ds.DataError, match=r"each also as SPLIT\+distractors"):
        ds.load("svamp:dev+distractors")


def test_fit_and_heldout_parts_split_a_split_by_id_on_any_machine():
    from mathdistill.datasets.parts import held_out

    whole = ds.load("mawps-asdiv-a:train")
    fit, held = ds.load("mawps-asdiv-a:train@fit"), ds.load("mawps-asdiv-a:train@heldout")
    assert {p.id for p in fit} | {p.id for p in held} == {p.id for p in whole}
    assert not {p.id for p in fit} & {p.id for p in held}
    assert 0.17 < len(held) / len(whole) < 0.23
    assert [p.id for p in fit] == [p.id for p in whole if p in fit]  # file order, ids and splits kept
    assert held[0].split == "train" and held[0].id.startswith("mawps-asdiv-a/train/")
    # fixed by SHA-256 of dataset/key, not by order or process: the same 637 on every machine
    assert len(held) == 637
    import hashlib
    for p in whole[:200]:
        h = int(hashlib.sha256(f"mawps-asdiv-a/{p.key}".encode()).hexdigest()[:16], 16)
        assert held_out(p.dataset, p.key) == (h < 0.2 * 2 ** 64) == (p in held)
    # a problem and its distractor variant land on the same side
    assert {p.key for p in ds.load("mawps-asdiv-a:train+distractors@heldout")} <= {p.key for p in held}
    assert ds.parse_spec("SVAMP:test@heldout") == ("svamp", "test@heldout")
    from mathdistill.datasets.parts import split_part
    assert split_part("train+distractors@fit") == ("train+distractors", "fit")
    assert split_part("class@school.csv") == ("class@school.csv", None)  # a file name keeps its @
    with pytest.raises(ds.DataError, match=r"@fit, @heldout"):
        ds.load("svamp:test@half")
    with pytest.raises(ds.DataError, match=r"unknown split svamp:dev"):
        ds.load("svamp:dev@fit")


# ---------------------------------------------------------------------------------- contamination


def _guard(*questions: str):
    from mathdistill.datasets.text import ContaminationGuard

    return ContaminationGuard([SimpleNamespace(id=f"eval/test/{i}", question=q) for i, q in enumerate(questions)])


LUCY = "Lucy has 212 fish. How many more fish does Lucy need to buy to have 280 fish?"


def test_guard_flags_the_same_question():
    guard = _guard("Each ticket costs $9. How many tickets can 4 friends buy?", LUCY)
    assert len(guard) == 2
    match = guard.match(LUCY, "train/train/7")
    assert (match.id, match.how) == ("eval/test/1", "same text")


@pytest.mark.parametrize("training, evaluation", [
    ("Dan has $ 3. He buys 2 pens. How much money is left?", "Dan has $3.00. He buys 2 pens. How much money is left?"),
    ("A farm has 1,000 hens and 25 cows.", "a farm has 1000 hens, and 25.0 cows"),
    ("Each ticket costs $9. How much do 4 tickets cost?", "Each ticket costs $9.00. How much do 4 tickets cost?"),
])
def test_guard_reads_numbers_written_differently_as_the_same_text(training, evaluation):
    match = _guard(evaluation).match(training, "train/train/0")
    assert match is not None and match.how == "same text"


def test_guard_flags_a_near_duplicate_with_the_same_numbers():
    # "she" for "Lucy": 11 of 12 words shared, Jaccard 0.92 >= 0.9
    match = _guard(LUCY).match("Lucy has 212 fish. How many more fish does she need to buy to have 280 fish?")
    assert match is not None and match.id == "eval/test/0" and match.how == "near duplicate (0.92)"


def test_guard_near_duplicates_start_at_jaccard_0_9():
    from mathdistill.datasets.text import ContaminationGuard

    one_word_less = "Lucy has 212 fish. How many fish does Lucy need to buy to have 280 fish?"  # 10 / 11 words
    two_words_less = "Lucy has 212 fish. How many fish Lucy need to buy to have 280 fish?"  # 9 / 11 words
    guard = _guard(LUCY)
    assert guard.match(one_word_less).how == "near duplicate (0.91)"
    assert guard.match(two_words_less) is None
    loose = ContaminationGuard([SimpleNamespace(id="eval/test/0", question=LUCY)], near=0.8)
    assert loose.match(two_words_less).how == "near duplicate (0.82)"


def test_guard_leaves_the_same_body_with_other_numbers():
    # SVAMP's variations of MAWPS problems: another problem, not a copy
    guard = _guard(LUCY)
    assert guard.match("Lucy has 200 fish. How many more fish does Lucy need to buy to have 280 fish?") is None
    assert guard.match("Lucy has 212 fish. How many more fish does Lucy need to buy to have 300 fish?") is None
    assert guard.match("Lucy has 212 fish. How many more fish does Lucy need to buy to have 280 fish and 1 cat?") is None


def test_guard_does_not_flag_a_problem_as_its_own_duplicate():
    guard = _guard(LUCY, "Ann has 5 pens and buys 3 more. How many pens does she have?")
    assert guard.match(LUCY, own_id="eval/test/0") is None
    assert guard.match(LUCY.replace("Lucy need", "she need"), own_id="eval/test/0") is None
    twin = _guard(LUCY, LUCY)  # a copy under another id is still a duplicate
    match = twin.match(LUCY, own_id="eval/test/0")
    assert match is not None and match.id == "eval/test/1"
