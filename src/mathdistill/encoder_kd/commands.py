"""`mathdistill encoder-kd ...`: a config file plus key=value overrides per command (thin)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mathdistill.config import load_config, parse_overrides

app = typer.Typer(help="Encoder distillation: BERT-class teacher -> compressed 256-d, 3-layer student, GTS decoder.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_CONFIG = typer.Argument(None, help="YAML config (fields of the command's config dataclass)")
_SET = typer.Option(None, "--set", "-s", help="override a config field, key=value (repeatable)")


@app.command()
def run(config: Path | None = _CONFIG, overrides: list[str] | None = _SET) -> None:
    """Teacher (frozen, fine-tuned), compressed teacher and student variants on each task; writes main.{json,md,png}."""
    from .experiment_config import ExperimentConfig
    from .experiment import run as run_experiment

    cfg = load_config(ExperimentConfig, config, parse_overrides(overrides), section="run")
    results = run_experiment(cfg)
    typer.echo((Path(cfg.out_dir) / "main.md").read_text())
    typer.echo(json.dumps([t["speed"] for t in results["tasks"]]))


@app.command()
def prepare(config: Path | None = _CONFIG, overrides: list[str] | None = _SET) -> None:
    """Encode every question with the teacher and train the stage-1 student (cached; `run` does this too)."""
    from .experiment_config import ExperimentConfig
    from .prepared import Prepared

    cfg = load_config(ExperimentConfig, config, parse_overrides(overrides), section="run")
    prep = Prepared(cfg)
    corpus = prep.stage1().corpus if prep.needs_stage1 else {}
    typer.echo(f"{len(prep.cache.final)} questions encoded in {prep.cache.dir}; stage-1 student "
               f"{'ready' if prep.needs_stage1 else 'not needed'}"
               + (f" ({corpus['questions']} questions; left out as duplicates of evaluation questions, "
                  f"rule {cfg.stage1_guard!r}: {corpus['dropped'] or 'none'})" if corpus else ""))


@app.command()
def aggregate(config: Path | None = _CONFIG, overrides: list[str] | None = _SET) -> None:
    """Rebuild main.{json,md,png} from the finished task files (e.g. after sharded runs)."""
    from .experiment_config import ExperimentConfig
    from .experiment import aggregate as aggregate_results

    cfg = load_config(ExperimentConfig, config, parse_overrides(overrides), section="run")
    results = aggregate_results(cfg)
    typer.echo((Path(cfg.out_dir) / "main.md").read_text() if results["tasks"] else "no finished task yet")


@app.command("compress-study")
def compress_study(config: Path | None = _CONFIG, overrides: list[str] | None = _SET) -> None:
    """Linear / PCA / LLE / MDS at each dimension: reconstruction, cosine preservation, optional GTS accuracy."""
    from .study import StudyConfig, compression_study

    cfg = load_config(StudyConfig, config, parse_overrides(overrides), section="study")
    compression_study(cfg)
    typer.echo((Path(cfg.out_dir) / f"compression{cfg.tag}.md").read_text())


@app.command()
def probe(config: Path | None = _CONFIG, overrides: list[str] | None = _SET) -> None:
    """POS / NER / quantity-relation linear probes on teacher, compressed and student vectors."""
    from .study import StudyConfig, probe_study

    cfg = load_config(StudyConfig, config, parse_overrides(overrides), section="study")
    probe_study(cfg)
    typer.echo((Path(cfg.out_dir) / f"probes{cfg.tag}.md").read_text())


if __name__ == "__main__":  # `python -m mathdistill.encoder_kd.commands` until `mathdistill encoder-kd` is registered
    app()
