"""A newcomer's path: your own problems as a dataset (`--split file:PATH`), `data list` from its
count cache, a teacher at an unreachable URL failing fast, and `score` on an empty file."""

import asyncio
import csv
import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from mathdistill import datasets as ds
from mathdistill.datasets import counts, files, user_files
from mathdistill.teachers import openai_compat
from mathdistill.teachers.openai_compat import OpenAICompatTeacher, TeacherError

MATHDISTILL = Path(sys.executable).with_name("mathdistill")

# Twelve word problems with their equations, as a user would write them: answers with $ and
# thousands separators, one row with its own id, one equation that does not give the answer.
PROBLEMS = [
    ("Tom has 3 boxes with 12 pencils each. He gives away 5 pencils. How many pencils does he have left?", "31", "3*12-5", ""),
    ("A shirt costs $12 and a hat costs $8. How much do 2 shirts and 1 hat cost?", "$32", "2*12+8", ""),
    ("Sara had $1,000 and spent $250 on a bike. How much money does she have left?", "$750", "1000-250", "sara-bike"),
    ("Mia reads 20 pages a day. How many pages does she read in 7 days?", "140", "20*7", ""),
    ("A baker made 48 cookies and put them into bags of 6. How many bags did he fill?", "8", "48/6", ""),
    ("There are 15 red balls and 27 blue balls in a box. How many balls are in the box?", "42", "15+27", ""),
    ("A train travels 60 miles per hour for 3 hours. How far does it go?", "180", "60*3", ""),
    ("Jake had 56 stickers. He gave 9 to his sister and 12 to his friend. How many stickers are left?", "35", "56-9-12", ""),
    ("A farmer has 4 rows of 25 apple trees. He cuts down 10 trees. How many trees are left?", "90", "4*25-10", ""),
    ("Lily buys 3 notebooks at $4 each and a pen for $2. How much does she spend?", "$14", "3*4+2", ""),
    ("A class of 30 students splits into teams of 5. How many teams are there?", "6", "30/5", ""),
    ("Ben saves $15 a week for 8 weeks. How much does he save?", "$120", "15*9", ""),  # wrong equation: a warning
]
HELD_OUT = [
    ("A shop sells 7 cakes a day. How many cakes does it sell in 5 days?", "35", "7*5"),
    ("A train travels 60 miles per hour for 3 hours. How far does it go?", "180", "60*3"),  # also in the training file
    ("Anna has 18 apples and eats 4. How many apples are left?", "14", "18-4"),
]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A private MATHDISTILL_CACHE: names of user files and split counts live there."""
    root = tmp_path / "cache"
    monkeypatch.setenv(files.ENV_CACHE, str(root))
    return root


def write_csv(path: Path, header: list[str], rows: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def problems_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "shop_problems.csv", ["question", "answer", "equation", "id"], PROBLEMS)


# ---------------------------------------------------------------------------------------------
# loading


def test_csv_loads_as_problems_with_file_ids(problems_csv, cache, caplog):
    with caplog.at_level(logging.WARNING):
        problems = ds.load(f"file:{problems_csv}")
    assert len(problems) == 12
    assert [p.id for p in problems[:4]] == ["file/shop_problems/0", "file/shop_problems/1",
                                            "file/shop_problems/sara-bike", "file/shop_problems/3"]
    p = problems[2]
    assert (p.dataset, p.split, p.key, p.answer, p.equation) == ("file", "shop_problems", "sara-bike", 750.0, "1000-250")
    assert p.numbers == (1000.0, 250.0) and p.meta["line"] == 4 and p.meta["file"] == str(problems_csv)
    assert problems[1].answer == 32.0
    # the wrong equation is a warning, counted, naming the line
    assert "1 equation does not reproduce the answer (first: line 13" in caplog.text
    _, report = user_files.read(problems_csv)
    assert report.with_equation == 12 and [line for line, _, _ in report.equation_mismatch] == [13]
    # the name is remembered: ids resolve back to the file, as build-dataset and `data show` need
    assert ds.load("file:shop_problems") == problems
    assert ds.get("file/shop_problems/sara-bike") == p
    assert ds.parse_spec("file:shop_problems") == ("file", "shop_problems")
    assert [q.id.split("/")[1] for q in ds.load("file:shop_problems+distractors")] == \
        ["shop_problems+distractors"] * len(ds.load("file:shop_problems+distractors"))


def test_jsonl_with_gsm8k_style_answers(tmp_path, cache):
    path = tmp_path / "mine.jsonl"
    rows = [{"question": "Ann has 2 bags of 5 apples. How many apples?", "answer": "2 bags of 5: <<2*5=10>>10\n#### 10"},
            {"Question": "What is 1,000 plus 1?", "Answer": 1001, "grade": 2},
            {"question": "Half of 9?", "answer": "4 1/2", "equation": "9/2", "id": 7}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    a, b, c = ds.load(f"file:{path}")
    assert (a.answer, a.solution, a.key) == (10.0, "2 bags of 5: <<2*5=10>>10", "0")
    assert (b.answer, b.meta["grade"], b.key) == (1001.0, 2, "1")
    assert (c.answer, c.id) == (4.5, "file/mine/7")
    from mathdistill.teachers.gold import convert

    made, failed = convert(a)
    assert {r.thought for r in made} == {"cot", "pot", "eot"} and not failed


@pytest.mark.parametrize("content, message", [
    ("question,answer\nHow many?,3\n,4\n", r"bad\.csv:3: no question"),
    ("question,answer\nHow many?,twelve\nAnd now?,\n", r"bad\.csv:2: answer 'twelve' is not a number .*and 1 more bad row: line 3"),
    ("question,answer,id\nA?,1,x\nB?,2,x\n", r"bad\.csv:3: id 'x' already used on line 2"),
    ("q,a\nHow many?,3\n", r"bad\.csv:1: the header has no question and no answer column \(it has: q, a\)"),
    ('question,answer\n"Multi\nline question?",5\nHow, many?,3\n', r"bad\.csv:4: 3 fields but the header has 2"),
    ("question,answer\n", r"bad\.csv: no problems"),
])
def test_bad_rows_name_file_and_line(tmp_path, cache, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ds.DataError, match=message):
        ds.load(f"file:{path}")


def test_spreadsheet_exports_load(tmp_path, cache):
    """Excel's "CSV UTF-8" (a byte-order mark) and ;-separated CSV with capitalised headers."""
    path = tmp_path / "sheet.csv"
    path.write_bytes("\ufeffQuestion;Answer;Equation\nHow much is 2.5 and 3?;5.5;2.5+3\n".encode())
    (p,) = ds.load(f"file:{path}")
    assert (p.id, p.equation) == ("file/sheet/0", "2.5+3")


def test_unknown_names_and_paths_are_clear(tmp_path, cache):
    with pytest.raises(ds.DataError, match="file:nothing: not a .csv/.jsonl path, nor a name used before"):
        ds.load("file:nothing")
    with pytest.raises(ds.DataError, match="no such file"):
        ds.load(f"file:{tmp_path / 'missing.csv'}")
    with pytest.raises(ds.DataError, match="use a .csv file"):
        ds.load(f"file:{tmp_path / 'problems.txt'}")


def test_a_name_moves_to_the_newest_file_with_a_note(tmp_path, cache, caplog):
    a = write_csv((tmp_path / "a").mkdir() or tmp_path / "a" / "set.csv", ["question", "answer"], [["One plus 1?", "2"]])
    b = write_csv((tmp_path / "b").mkdir() or tmp_path / "b" / "set.csv", ["question", "answer"], [["Two plus 2?", "4"]])
    assert ds.load(f"file:{a}")[0].answer == 2
    with caplog.at_level(logging.WARNING):
        assert ds.load(f"file:{b}")[0].answer == 4
    assert f"file:set now means {b}" in caplog.text
    assert ds.get("file/set/0").answer == 4
    # an edited file is read again
    write_csv(b, ["question", "answer"], [["Two plus 3?", "5"]])
    os.utime(b, ns=(1, 1))
    assert ds.get("file/set/0").answer == 5


# ---------------------------------------------------------------------------------------------
# data list: counts from the cache


def test_split_counts_come_from_the_cache_until_a_file_changes(problems_csv, cache, monkeypatch):
    specs = [("svamp", "test"), ("svamp", "test+distractors"), ("file", user_files.resolve(str(problems_csv)))]
    first = dict(counts.split_counts(specs))
    assert first == {"svamp:test": 1000, "svamp:test+distractors": 1000, "file:shop_problems": 12}
    stored = json.loads(counts.cache_path().read_text())["splits"]
    recorded = {os.path.realpath(f) for f in stored["svamp:test+distractors"]["files"]}
    assert os.path.realpath(files.data_file("svamp/SVAMP.json")) in recorded  # ../shared may be a symlink

    def fail(*args):
        raise AssertionError("loaded a split whose count is cached")

    monkeypatch.setattr(ds, "load", fail)
    assert dict(counts.split_counts(specs)) == first
    # the user file changes: only its count is recomputed
    loaded = []
    monkeypatch.setattr(ds, "load", lambda name, split: loaded.append(split) or [None] * 3)
    with open(problems_csv, "a") as f:
        f.write("One more?,1,1\n")
    assert dict(counts.split_counts(specs))["file:shop_problems"] == 3 and loaded == ["shop_problems"]


def test_data_list_shows_every_split_aligned_and_loads_once(tmp_path, cache, monkeypatch):
    from typer.testing import CliRunner

    from mathdistill.cli import app

    source = tmp_path / "source.json"
    source.write_text("{}")
    calls = []

    def fake_load(name, split):  # stands in for the real loader: records a file, returns n problems
        calls.append(f"{name}:{split}")
        files.note_used(source)
        return [None] * (len(name) + len(split))

    monkeypatch.setattr(ds, "load", fake_load)
    first = CliRunner().invoke(app, ["data", "list"])
    assert first.exit_code == 0, first.output
    expected = [f"{n}:{s}{suffix}" for n, info in ds.REGISTRY.items() for s in info.splits for suffix in ("", "+distractors")]
    assert calls == expected
    lines = [line for line in first.stdout.splitlines() if line.split()[0] in expected]
    assert [line.split()[0] for line in lines] == expected
    assert len({re.match(r"\S+\s+\d+", line).end() for line in lines}) == 1  # counts right-aligned
    assert "mawps-asdiv-a:train+distractors" in first.stdout

    monkeypatch.setattr(ds, "load", lambda *a: (_ for _ in ()).throw(AssertionError("loaded again")))
    second = CliRunner().invoke(app, ["data", "list"])
    assert second.exit_code == 0, second.output
    assert second.stdout == first.stdout


# ---------------------------------------------------------------------------------------------
# teacher connection errors


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _counting(teacher) -> list:
    calls = []
    post = teacher._client.post

    async def counted(*args, **kwargs):
        calls.append(args[0])
        return await post(*args, **kwargs)

    teacher._client.post = counted
    return calls


def test_unreachable_teacher_fails_fast_naming_url_and_check():
    url = f"http://127.0.0.1:{_closed_port()}/v1"

    async def run():
        async with OpenAICompatTeacher(url, "m", max_retries=6) as t:
            run.calls = _counting(t)
            await t.complete([{"role": "user", "content": "hi"}])

    with pytest.raises(TeacherError) as e:
        asyncio.run(run())
    message = str(e.value)
    assert "\n" not in message and f"cannot connect to the teacher at {url}" in message
    assert f"curl {url}/models" in message
    assert len(run.calls) == 3  # connect_retries=2: not the 7 attempts of the backoff schedule


def test_bad_url_fails_at_once():
    async def run():
        async with OpenAICompatTeacher("localhost:8000/v1", "m") as t:
            await t.complete([{"role": "user", "content": "hi"}])
    with pytest.raises(TeacherError, match="must start with http:// or https://"):
        asyncio.run(run())


def test_429_timeouts_and_a_server_gone_mid_run_are_retried(monkeypatch):
    monkeypatch.setattr(openai_compat, "_backoff", lambda attempt: 0.0)
    with FakeOpenAI(fail_first=2, status=429) as server:
        async def run():
            async with OpenAICompatTeacher(server.base_url, "fake", max_retries=3) as t:
                return await t.complete([{"role": "user", "content": "hi"}])
        assert asyncio.run(run()).text.startswith("ans = 1")
        assert len(server.requests) == 3

    with FakeOpenAI(delay=1.0) as server:
        async def slow():
            async with OpenAICompatTeacher(server.base_url, "fake", max_retries=1, timeout=0.2) as t:
                return await t.complete([{"role": "user", "content": "hi"}])
        with pytest.raises(TeacherError, match="ReadTimeout.* after 2 attempts"):
            asyncio.run(slow())
        assert len(server.requests) == 2

    # reached once, then the server goes away: connection errors get the whole backoff schedule
    server = FakeOpenAI()
    server.__enter__()

    async def gone():
        async with OpenAICompatTeacher(server.base_url, "fake", max_retries=4) as t:
            await t.complete([{"role": "user", "content": "hi"}])
            server.__exit__(None, None, None)
            gone.calls = _counting(t)
            await t.complete([{"role": "user", "content": "again"}])
    with pytest.raises(TeacherError, match="after 5 attempts"):
        asyncio.run(gone())
    assert len(gone.calls) == 5


# ---------------------------------------------------------------------------------------------
# through the command line, as a user would


def mathdistill(*args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(MATHDISTILL), *map(str, args)], capture_output=True, text=True, env=env, timeout=900)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture
def user_env(tmp_path) -> dict:
    return {**os.environ, files.ENV_CACHE: str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_data_check_refuses_a_bad_file_in_one_line(tmp_path, user_env):
    bad = write_csv(tmp_path / "bad.csv", ["question", "answer"], [["How many?", "3"], ["", "4"], ["And?", "lots"]])
    p = mathdistill("data", "check", bad, env=user_env)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1
    assert lines[0] == f"error: {bad}:3: no question (the question column is empty) (and 1 more bad row: line 4)"


def test_score_on_an_empty_file_says_no_records(tmp_path, user_env):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    p = mathdistill("score", "svamp:test", "--input", empty, env=user_env)
    assert p.returncode == 2 and "no records" in p.stderr and "Traceback" not in p.stderr


def test_from_a_csv_to_an_evaluated_student(tmp_path, problems_csv, tiny_causal, user_env):
    """CSV -> gold ETD (generate, build-dataset with the guard) -> train 2 steps -> evaluate."""
    held_out = write_csv(tmp_path / "held_out.csv", ["question", "answer", "equation"], HELD_OUT)
    run = tmp_path / "run"

    p = ok(mathdistill("data", "check", problems_csv, env=user_env))
    assert "12 problems as file:shop_problems" in p.stdout and "line 13 (file/shop_problems/11)" in p.stdout

    p = ok(mathdistill("generate", "--teacher", "gold", "--split", f"file:{problems_csv}", "--out", run / "raw.jsonl",
                       env=user_env))
    assert "36 new records" in p.stdout
    assert "1 equation does not reproduce the answer" in p.stderr

    p = ok(mathdistill("build-dataset", "--input", run / "raw.jsonl", "--out", run / "etd.jsonl",
                       "--eval-split", f"file:{held_out}", env=user_env))
    report = json.loads((run / "etd.report.json").read_text())
    # the train problem that is also held out is refused; the wrong equation's rationales fail verification
    assert report["contaminated_problems_refused"] == 1 and report["contamination_reasons"] == {"same text": 1}
    assert report["problems"] == 10 and report["rows"] == 30
    assert report["rows_by_split"] == {"file:shop_problems": 30}
    rows = [json.loads(line) for line in (run / "etd.jsonl").read_text().splitlines()]
    assert {r["thought"] for r in rows} == {"cot", "pot", "eot"}
    assert all(r["prompt"].startswith("Question: ") and r["id"].startswith("file/shop_problems/") for r in rows)

    p = ok(mathdistill("train", "--model", tiny_causal, "--data", run / "etd.jsonl", "--out", run / "train",
                       "--set", "max_steps=2", "--set", "bf16=false", "--set", "batch_size=4", env=user_env))
    assert "30 rows (10 problems), 2 steps" in p.stdout

    p = ok(mathdistill("evaluate", "--model", run / "train" / "model", "--split", "file:held_out", "--out", run / "eval",
                       "--set", "max_new_tokens=8", "--set", "batch_size=4", "--set", "bf16=false", env=user_env))
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["splits"]["file:held_out"]["problems"] == 3
    assert set(metrics["splits"]["file:held_out"]["by_thought"]) == {"cot", "pot", "eot"}
    verdicts = [json.loads(line) for line in (run / "eval" / "verdicts.jsonl").read_text().splitlines()]
    assert [v["id"] for v in verdicts] == ["file/held_out/0", "file/held_out/1", "file/held_out/2"]
    assert [v["gold"] for v in verdicts] == [35, 180, 14]

    # the same problems through the other data commands
    p = ok(mathdistill("data", "show", "file/held_out/2", env=user_env))
    assert json.loads(p.stdout)["answer"] == 14
    p = ok(mathdistill("data", "export", "file:held_out", env=user_env))
    assert [json.loads(line)["id"] for line in p.stdout.splitlines()] == [v["id"] for v in verdicts]
    gold_rows = [r for r in rows if r["id"] == "file/shop_problems/0"]
    records = run / "records.jsonl"
    records.write_text("".join(json.dumps({"id": r["id"], "thought": r["thought"], "text": r["completion"]}) + "\n"
                               for r in gold_rows))
    p = ok(mathdistill("score", f"file:{problems_csv}", "--input", records, "--json", env=user_env))
    assert json.loads(p.stdout.strip().splitlines()[-1])["accuracy"] == 1.0
