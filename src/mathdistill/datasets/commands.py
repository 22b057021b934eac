"""`mathdistill data ...`: list, check, show, export and describe problems (thin; see `datasets`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .. import datasets as ds
from .stats import split_stats

app = typer.Typer(help="Benchmarks: list, show, export and describe problems.", no_args_is_help=True)


@app.command("list")
def data_list() -> None:
    """Datasets, their splits (each also as SPLIT+distractors) and problem counts; then your own files.

    Counts come from a cache keyed on the data files' size and mtime, so only the first run loads."""
    from . import counts, distractors, user_files

    rows: list[tuple[tuple[str, str], str]] = []
    for name, info in ds.REGISTRY.items():
        for i, split in enumerate(info.splits):
            rows.append(((name, split), info.description if i == 0 else ""))
            rows.append(((name, split + distractors.SUFFIX), ""))
    for name, path in sorted(user_files.registered().items()):
        rows.append(((user_files.DATASET, name), path))
    width = max(len("dataset:split"), *(len(f"{n}:{s}") for (n, s), _ in rows))
    typer.echo(f"{'dataset:split':<{width}}  {'problems':>8}  description")
    counted, notes = [], []
    for (spec, n), (_, desc) in zip(counts.split_counts([key for key, _ in rows], on_load=counted.append), rows):
        if isinstance(n, ds.DataError):
            if not spec.startswith(f"{user_files.DATASET}:"):
                raise n  # benchmark data missing or damaged: the message says where and how to fix it
            notes.append(f"note: {spec}: {n}")
            n = "-"
        typer.echo(f"{spec:<{width}}  {n:>8}  {desc}".rstrip())
    for note in notes:
        typer.echo(note, err=True)
    if counted:
        typer.echo(f"({len(counted)} splits counted and cached in {counts.cache_path()}; "
                   f"later runs read them from there)", err=True)


@app.command("check")
def data_check(path: Path = typer.Argument(..., help="your problems: a .csv or .jsonl file"),
               as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Check a file of your own problems (question, answer, optional equation/solution/id) for
    `--split file:PATH`: bad rows are errors (exit 2); equations that do not reproduce the answer and
    problems the gold teacher cannot convert are listed line by line."""
    from . import user_files

    name = user_files.resolve(str(path))
    _, report = user_files.parse(Path(path).resolve(), name)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    typer.echo(report.summary())
    for line, pid, why in report.equation_mismatch:
        typer.echo(f"  line {line} ({pid}): {why}")
    for line, pid in report.without_gold:
        typer.echo(f"  line {line} ({pid}): no equation or solution")
    typer.echo(f"use it as --split file:{path} (or --split file:{name} from now on)")


@app.command("show")
def data_show(problem_id: str = typer.Argument(..., help="e.g. svamp/test/chal-1")) -> None:
    """One problem as JSON."""
    typer.echo(json.dumps(ds.get(problem_id).to_json(), ensure_ascii=False, indent=2))


@app.command("export")
def data_export(spec: str = typer.Argument(..., help="DATASET:SPLIT, e.g. gsm8k:test"),
                out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL file (default: stdout)")) -> None:
    """Write a split as JSONL, one problem a line (id, dataset, split, question, answer, ...)."""
    from ..jsonl import dumps, write_jsonl

    problems = ds.load(spec)
    if out is None:
        sys.stdout.write("".join(dumps(p.to_json()) for p in problems))
    else:
        write_jsonl(out, (p.to_json() for p in problems))
        typer.echo(f"wrote {len(problems)} problems to {out}", err=True)


@app.command("stats")
def data_stats(specs: list[str] = typer.Argument(None, help="DATASET:SPLIT ... (default: the evaluation splits)"),
               as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Question lengths, answer types and operator counts per split."""
    table = {spec: split_stats(ds.load(spec)) for spec in (specs or ds.EVAL_SPLITS)}
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    typer.echo(f"{'split':<22}{'n':>6}{'words':>7}{'nums':>6}{'int':>6}{'dec':>5}{'neg':>5}{'eq':>6}  operators")
    for spec, s in table.items():
        a = s["answers"]
        ops = " ".join(f"{k}{v}" for k, v in s["operators"].items())
        typer.echo(f"{spec:<22}{s['n']:>6}{s['question_words']['mean']:>7}{s['numbers_per_question']:>6}"
                   f"{a.get('integer', 0):>6}{a.get('decimal', 0):>5}{a.get('negative', 0):>5}{s['with_equation']:>6}  {ops}")
