"""Markdown tables and PNG plots for the encoder-distillation results (JSON in, files out)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def main_table(results: dict) -> str:
    """One row per model; accuracies averaged over the tasks that share an evaluation dataset."""
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for task in results["tasks"]:
        by_dataset[task["task"].split(">")[1].split(":")[0]].append(task)
    datasets = list(by_dataset)
    speeds = [t["speed"] for t in results["tasks"]]
    teacher_speed = float(np.mean([s["teacher"] for s in speeds]))
    student_speed = float(np.mean([s["student"] for s in speeds]))
    header = "| model | params | " + " | ".join(f"{d} eq. / ans. acc (%)" for d in datasets) + " | questions/s |"
    lines = [header, "|" + "---|" * (3 + len(datasets))]
    names = list(results["tasks"][0]["rows"])
    for name in names:
        cells = []
        for d in datasets:
            rows = [t["rows"][name] for t in by_dataset[d] if name in t["rows"]]
            cells.append(f"{_pct(np.mean([r['equation_acc'] for r in rows]))} / {_pct(np.mean([r['answer_acc'] for r in rows]))}"
                         f" (n={sum(r['n'] for r in rows)}, {len(rows)} fold{'s' * (len(rows) > 1)})")
        params = results["tasks"][0]["rows"][name]["params"]
        speed = student_speed if name.startswith("student") else teacher_speed if name.startswith("teacher (") else ""
        speed_cell = f"{speed:.0f}" if speed else "-"
        lines.append(f"| {name} | {params / 1e6:.1f}M | " + " | ".join(cells) + f" | {speed_cell} |")
    load = ", ".join(f"{s['load_average'][0]:.1f}" for s in speeds)
    rows0 = results["tasks"][0]["rows"]
    param_ratio = rows0[names[-1]]["params"] / rows0[names[0]]["params"]
    note = (f"Encoding speed: {speeds[0]['sentences']} evaluation questions, batch 32, "
            f"{results['config']['threads']} thread(s), 1-minute load average at measurement: {load}. "
            f"Student/teacher speed ratio: {student_speed / teacher_speed:.1f}x; parameter ratio: {param_ratio:.3f}.")
    lines += ["", note]
    return "\n".join(lines) + "\n"


def compression_table(result: dict) -> str:
    rows = result["rows"]
    downstream = "answer_acc" in rows[0]
    head = "| method | dims | reconstruction error | cosine Spearman | fit s |" + (" eq. acc | ans. acc |" if downstream else "")
    lines = [head, "|" + "---|" * (5 + 2 * downstream)]
    for r in rows:
        line = f"| {r['method']} | {r['dim']} | {r['reconstruction_error']:.3f} | {r['cosine_spearman']:.3f} | {r['fit_seconds']} |"
        if downstream:
            line += f" {_pct(r['equation_acc'])} | {_pct(r['answer_acc'])} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def probes_table(result: dict) -> str:
    rows = result["rows"]
    lines = ["| representation | dims | POS | NER | quantity relation |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['representation']} | {r['dim']} | {_pct(r['pos'])} | {_pct(r['ner'])} | {_pct(r['relation'])} |")
    r = rows[0]
    lines.append(f"| majority class | - | {_pct(r['pos_majority'])} | {_pct(r['ner_majority'])} | {_pct(r['relation_majority'])} |")
    return "\n".join(lines) + "\n"


def _figure(ncols: int):
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on build machines
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(4.5 * ncols, 3.5))


def plot_compression(result: dict, path: Path) -> None:
    metrics = [("reconstruction_error", "reconstruction error (lower better)"),
               ("cosine_spearman", "cosine-similarity Spearman (higher better)")]
    if "answer_acc" in result["rows"][0]:
        metrics.append(("answer_acc", "GTS answer accuracy"))
    fig, axes = _figure(len(metrics))
    for ax, (key, title) in zip(axes, metrics):
        for method in dict.fromkeys(r["method"] for r in result["rows"]):
            rows = [r for r in result["rows"] if r["method"] == method]
            ax.plot([r["dim"] for r in rows], [r[key] for r in rows], marker="o", label=method)
        ax.set_xlabel("dims")
        ax.set_title(title, fontsize=9)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_probes(result: dict, path: Path) -> None:
    fig, axes = _figure(3)
    rows = result["rows"]
    for ax, probe in zip(axes, ("pos", "ner", "relation")):
        for method in dict.fromkeys(r["representation"] for r in rows[1:] if not r["representation"].startswith("student")):
            sub = [r for r in rows if r["representation"] == method]
            ax.plot([r["dim"] for r in sub], [r[probe] for r in sub], marker="o", label=method)
        ax.axhline(rows[0][probe], color="black", linestyle="--", label="teacher 768")
        for r in rows:
            if r["representation"].startswith("student"):
                ax.scatter([r["dim"]], [r[probe]], marker="*", s=120, label=r["representation"])
        ax.axhline(rows[0][f"{probe}_majority"], color="grey", linestyle=":", label="majority")
        ax.set_title(f"{probe} probe accuracy", fontsize=9)
        ax.set_xlabel("dims")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_main(results: dict, path: Path) -> None:
    """Answer accuracy of every model on every task (one group of bars per task)."""
    fig, axes = _figure(1)
    ax = axes if not isinstance(axes, np.ndarray) else axes[0]
    names = list(results["tasks"][0]["rows"])
    width = 0.8 / len(results["tasks"])
    for k, task in enumerate(results["tasks"]):
        ax.bar(np.arange(len(names)) + k * width, [100 * task["rows"][n]["answer_acc"] for n in names], width,
               label=task["task"].split(">")[1])
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("answer accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
