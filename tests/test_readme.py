"""The README's commands are real: every `mathdistill ...` line of its command blocks parses against
the CLI as written (commands, options, option values), and the "own problems" section runs, as
written, from a CSV to an evaluated student (with the tiny test model standing in for SmolLM2)."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from mathdistill.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
MATHDISTILL = Path(sys.executable).with_name("mathdistill")


def _blocks(text: str) -> list[tuple[str, str]]:
    """(section heading, bash block) in README order."""
    out, heading = [], ""
    for m in re.finditer(r"^(#+ [^\n]*)$|^```bash\n(.*?)^```", text, re.M | re.S):
        if m.group(1):
            heading = m.group(1).lstrip("# ").strip()
        else:
            out.append((heading, m.group(2)))
    return out


def _commands(block: str) -> list[list[str]]:
    """The `mathdistill` invocations of a block, as argument lists (comments, `&&` and `\\` handled)."""
    out = []
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        for part in re.split(r"&&|;", line):
            words = shlex.split(part, comments=True)
            if words and words[0] == "mathdistill":
                out.append(words[1:])
    return out


ALL = [(heading, args) for heading, block in _blocks(README.read_text()) for args in _commands(block)]


def _parse(cmd, args: list[str], name: str = "mathdistill") -> None:
    """Parse `args` like the CLI would, down to the leaf command, without running it."""
    ctx = cmd.make_context(name, list(args))
    if hasattr(cmd, "resolve_command"):  # a group (typer vendors its own click: no isinstance)
        rest = list(getattr(ctx, "_protected_args", [])) + list(ctx.args)
        sub_name, sub, sub_args = cmd.resolve_command(ctx, rest)
        assert sub is not None, f"unknown command {sub_name!r}"
        _parse(sub, sub_args, sub_name)


def test_readme_has_commands_for_every_task():
    headings = {h for h, _ in ALL}
    for task in ("Try a student", "Distil on your own problems", "Use a teacher server", "Train",
                 "Evaluate and report", "Use a student elsewhere", "Encoder distillation"):
        assert task in headings, f"README section {task!r} has no mathdistill command"
    assert len(README.read_text().splitlines()) < 250


@pytest.mark.parametrize("heading, args", ALL, ids=[f"{h}: {' '.join(a)[:60]}" for h, a in ALL])
def test_readme_command_parses(heading, args):
    _parse(typer.main.get_command(app), args)


def test_a_misspelt_option_would_be_caught():
    with pytest.raises(Exception, match="No such option: --modle"):
        _parse(typer.main.get_command(app), ["evaluate", "--modle", "x"])
    with pytest.raises(Exception, match="No such command"):
        _parse(typer.main.get_command(app), ["trian"])


PROBLEMS_CSV = """question,answer,equation
Tom has 3 boxes with 12 pencils each. He gives away 5 pencils. How many pencils does he have left?,31,3*12-5
A shirt costs $12 and a hat costs $8. How much do 2 shirts and 1 hat cost?,$32,2*12+8
"Sara had $1,000 and spent $250 on a bike. How much money does she have left?","$750",1000-250
Mia reads 20 pages a day. How many pages does she read in 7 days?,140,20*7
A baker made 48 cookies and put them into bags of 6. How many bags did he fill?,8,48/6
There are 15 red balls and 27 blue balls in a box. How many balls are in the box?,42,15+27
A train travels 60 miles per hour for 3 hours. How far does it go?,180,60*3
Jake had 56 stickers. He gave 9 to his sister and 12 to his friend. How many are left?,35,56-9-12
"""


@pytest.mark.slow
def test_own_problems_section_runs_as_written(tmp_path, tiny_causal):
    block = next(b for h, b in _blocks(README.read_text()) if h == "Distil on your own problems")
    header, *rows = PROBLEMS_CSV.splitlines(keepends=True)
    (tmp_path / "my_train.csv").write_text(header + "".join(rows[:6]))
    (tmp_path / "my_test.csv").write_text(header + "".join(rows[6:]))
    env = dict(os.environ, MATHDISTILL_CACHE=str(tmp_path / "cache"))  # user-file names stay in the test
    for args in _commands(block):
        # the only stand-ins: the tiny random model for SmolLM2, and a few training steps
        args = [tiny_causal if a == "smollm2-135m" else a for a in args]
        if args[0] == "train":
            args += ["--max-steps", "2"]
        if args[0] == "evaluate":
            args += ["--max-new-tokens", "8"]
        r = subprocess.run([str(MATHDISTILL), *args], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert r.returncode == 0, f"mathdistill {' '.join(args)}\n{r.stderr[-2000:]}"
    metrics = json.loads((tmp_path / "runs/mine/eval/metrics.json").read_text())
    assert metrics["splits"]["file:my_test.csv"]["problems"] == 2
    assert (tmp_path / "runs/mine/report/report.html").is_file()
