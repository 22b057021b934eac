"""Evaluation runs side by side: the tables and plots `mathdistill report` shows for students.

A run is a directory holding `metrics.json` (written by `mathdistill evaluate`). Plots: accuracy
per thought, vote and oracle for each run and split; accuracy at coverage when the vote answers
only where k thoughts agree; and, within a family of runs (same student, data source and thoughts)
trained on different numbers of problems, a data-scale curve.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..rendering import figure, save_figure
from ..thoughts import THOUGHTS

COLUMNS = (*THOUGHTS, "vote", "vote_plausible", "oracle")  # vote_plausible: "-" in older metrics


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict

    @property
    def training_problems(self) -> int | None:
        return (self.metrics.get("training") or {}).get("problems")

    @property
    def family(self) -> tuple | None:
        """Runs that differ only in how much of the same data they saw: same student, same data
        files, same thoughts. None for a run without a training record (an untuned model)."""
        cfg = (self.metrics.get("training") or {}).get("config")
        if not cfg:
            return None
        return cfg.get("model"), tuple(cfg.get("data") or ()), tuple(cfg.get("thoughts") or ())


def find_runs(paths: list[Path]) -> list[Run]:
    files: list[Path] = []
    for p in paths:
        if p.is_file() and p.name == "metrics.json":
            files.append(p)
        elif p.is_dir():
            files += sorted(p.rglob("metrics.json"))
    runs = [Run(f.parent.name, f.parent, json.loads(f.read_text())) for f in files]
    names = [r.name for r in runs]
    for r in runs:  # same leaf name in two places: qualify with the parent
        if names.count(r.name) > 1:
            r.name = f"{r.path.parent.name}/{r.name}"
    return runs


def _blocks(split_metrics: dict) -> dict:
    """{column: {n, correct, accuracy}} of one split of one run."""
    m = split_metrics
    return {**m["by_thought"], "vote": m["vote"], "vote_plausible": m.get("vote_plausible"), "oracle": m["oracle"]}


def _cell(block: dict | None) -> str:
    return f"{block['accuracy']:.1%} ({block['correct']}/{block['n']})" if block and block.get("n") else "-"


def accuracy_rows(runs: list[Run]) -> list[list[str]]:
    rows = []
    for r in runs:
        for spec, m in r.metrics["splits"].items():
            rows.append([r.name, spec, str(m["problems"]), *(_cell(_blocks(m).get(c)) for c in COLUMNS)])
    return rows


def training_rows(runs: list[Run]) -> list[list[str]]:
    rows = []
    for r in runs:
        t = r.metrics.get("training")
        if t:
            rows.append([r.name, t["config"]["model"],
                         ",".join(t["config"]["thoughts"]), "lora" if t["config"]["lora"] else "full",
                         str(t["problems"]), str(t["rows"]), str(t["steps"]), f"{t['tokens_per_second']:.0f}"])
    return rows


def _wrap_label(name: str, width: int = 18) -> str:
    """Break a long run name at its underscores so neighbouring tick labels do not overlap."""
    lines: list[str] = []
    for part in name.split("_"):
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += "_" + part
        else:
            lines.append(part if not lines else "_" + part)
    return "\n".join(lines)


def plot_accuracy(runs: list[Run], out: Path) -> Path:
    groups = [(r.name, spec, m) for r in runs for spec, m in r.metrics["splits"].items()]
    fig, axes = figure(1, width=min(14.0, max(6.0, 1.6 * len(groups) + 2)), height=4.5)
    ax = axes[0][0]
    width = 0.8 / len(COLUMNS)
    for j, col in enumerate(COLUMNS):
        values = [100 * (_blocks(m).get(col) or {}).get("accuracy", 0) for _, _, m in groups]
        ax.bar([i + j * width for i in range(len(groups))], values, width, label=col)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{_wrap_label(name)}\n{spec}" for name, spec, _ in groups], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per thought, vote and oracle")
    ax.legend(fontsize=8, ncol=4)
    return save_figure(fig, out)


def headline(run: Run) -> str:
    """The column that stands for a run: the vote of a multi-thought run, else its one thought."""
    thoughts = (run.metrics.get("config") or {}).get("thoughts") or list(THOUGHTS)
    return "vote" if len(thoughts) > 1 else thoughts[0]


def plot_data_scale(runs: list[Run], out: Path) -> Path | None:
    """Accuracy vs training problems, one line per family of runs (`Run.family`) that has at least
    two sizes; None when no family does. Runs of different families are never joined."""
    families: dict[tuple, list[Run]] = defaultdict(list)
    for r in runs:
        if r.family and r.training_problems:
            families[r.family].append(r)
    families = {k: v for k, v in families.items() if len({r.training_problems for r in v}) >= 2}
    if not families:
        return None
    specs = sorted({spec for rs in families.values() for r in rs for spec in r.metrics["splits"]})
    fig, axes = figure(len(specs))
    for ax, spec in zip(axes[0], specs):
        for (model, data, thoughts), rs in families.items():
            col = headline(rs[0])
            points = sorted((r.training_problems, _blocks(r.metrics["splits"][spec]).get(col))
                            for r in rs if spec in r.metrics["splits"])
            points = [(n, b) for n, b in points if b and b.get("n")]
            if len(points) >= 2:
                label = f"{Path(model).name} {'+'.join(thoughts)} ({', '.join(Path(d).parent.name for d in data)}): {col}"
                ax.plot([n for n, _ in points], [100 * b["accuracy"] for _, b in points], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_xlabel("training problems")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(spec)
        ax.legend(fontsize=7)
    return save_figure(fig, out)


def coverage_rows(runs: list[Run]) -> list[list[str]]:
    """Accuracy at coverage: the vote answers only where at least k thoughts agree."""
    rows = []
    for r in runs:
        for spec, m in r.metrics["splits"].items():
            for k, a in (m.get("agreement") or {}).items():
                rows.append([r.name, spec, f">= {k}", f"{a['coverage']:.1%} ({a['answered']}/{m['problems']})",
                             f"{a['accuracy']:.1%} ({a['correct']}/{a['answered']})"])
    return rows


def plot_coverage(runs: list[Run], out: Path) -> Path | None:
    """Accuracy among answered problems against coverage, one curve per run and split; None when no
    run has agreement metrics (runs evaluated before they existed: regrade them)."""
    curves = [(f"{r.name} {spec}", m["agreement"]) for r in runs for spec, m in r.metrics["splits"].items()
              if m.get("agreement")]
    if not curves:
        return None
    fig, axes = figure(1, width=6.5, height=4.5)
    ax = axes[0][0]
    for label, agreement in curves:
        ks = sorted(agreement, key=int, reverse=True)
        xs = [100 * agreement[k]["coverage"] for k in ks]
        ys = [100 * agreement[k]["accuracy"] for k in ks]
        ax.plot(xs, ys, marker="o", label=label)
        for k, x, y in zip(ks, xs, ys):
            ax.annotate(f"k={k}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("coverage: problems answered (%)")
    ax.set_ylabel("accuracy among answered (%)")
    ax.set_title("Abstention: answer only when k thoughts agree")
    ax.legend(fontsize=7)
    return save_figure(fig, out)
