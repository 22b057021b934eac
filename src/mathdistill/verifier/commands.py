"""`mathdistill verifier train|evaluate` (thin: a typed config and one library call each)."""

from __future__ import annotations

import shlex
import sys

import typer

from ..config import config_command
from .run import VerifierEvalConfig, VerifierTrainConfig, run_train, run_verifier_eval

app = typer.Typer(help="A verifier over sampled candidates: select an answer, calibrate it, abstain when unsure.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _bar(desc: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total or None, desc=desc, unit="rec", file=sys.stderr, dynamic_ncols=True)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def train(cfg: VerifierTrainConfig) -> None:
    """Train a verifier on candidates of the student's training problems; calibrate and choose the
    abstention threshold on a held-out part of them. Writes <out>/verifier.json."""
    info = run_train(cfg, progress=_bar, command=shlex.join(["mathdistill", *sys.argv[1:]]))
    read = info["read"]
    typer.echo(f"{read['problems']} training problems x {read['generations_per_problem']} candidates "
               f"({info['fit_problems']} fit, {info['validation_problems']} validation); scorer {cfg.scorer}")
    for method, m in info["validation"].items():
        t = m["threshold"]
        where = (f"answers {_pct(t['coverage'])} at >= {t['threshold']:.3f}" if t.get("threshold") is not None
                 else t["reason"])
        typer.echo(f"  validation {method:<14} accuracy {_pct(m['accuracy'])}, AUROC {m['auroc']}, ECE {m['ece']}; "
                   f"{where}")
    typer.echo(f"{info['out']}/verifier.json")


def evaluate(cfg: VerifierEvalConfig) -> None:
    """Every selection method of every verifier on candidates of evaluation problems: accuracy,
    accuracy at coverage, AUROC, ECE, curves; metrics.json, report.md, plots, scores."""
    result = run_verifier_eval(cfg, progress=_bar, command=shlex.join(["mathdistill", *sys.argv[1:]]))
    for spec, block in result["splits"].items():
        typer.echo(f"{spec} ({block['problems']} problems, {result['read']['generations_per_problem']} generations "
                   f"each, oracle {_pct(block['oracle'])}):")
        for key, m in block["rows"].items():
            typer.echo(f"  {key:<32} {_pct(m['accuracy'])} ± {_pct(m['stderr'])}; at "
                       f"{_pct(m['at_coverage']['coverage'])} coverage {_pct(m['at_coverage']['accuracy'])}; "
                       f"AUROC {m['auroc']}, ECE {m['ece']}")
    typer.echo(f"{cfg.out}/report.md")


config_command(app, "train", VerifierTrainConfig, train, section="verifier", help=train.__doc__)
config_command(app, "evaluate", VerifierEvalConfig, evaluate, section="verifier_evaluate", help=evaluate.__doc__)
