"""Markdown tables and PNG plots for the encoder-distillation results (JSON in, files out)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _by_dataset(results: dict) -> dict[str, list[dict]]:
    """Tasks grouped by the dataset they are evaluated on (CV folds of one dataset together)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for task in results["tasks"]:
        groups[task["task"].split(">")[1].split(":")[0].strip()].append(task)
    return groups


_ORDER = ("teacher (frozen)", "teacher (fine-tuned)", "teacher-compressed", "student (none)", "student (stage1)",
          "student (stage2)", "student (both)")


def _row_names(results: dict) -> list[str]:
    """Every row name, teachers first, then the students from no distillation to both stages (a
    resumed task lists the variants added later at its end)."""
    names = list(dict.fromkeys(name for task in results["tasks"] for name in task["rows"]))
    rank = {name: next((i for i, prefix in enumerate(_ORDER) if name.startswith(prefix)), len(_ORDER)) for name in names}
    return sorted(names, key=lambda n: (rank[n], names.index(n)))


def fold_means(results: dict) -> dict[str, dict[str, dict]]:
    """dataset -> model -> mean equation / answer accuracy over the folds that have the model."""
    out: dict[str, dict[str, dict]] = {}
    for dataset, tasks in _by_dataset(results).items():
        out[dataset] = {}
        for name in _row_names(results):
            rows = [t["rows"][name] for t in tasks if name in t["rows"]]
            if rows:
                out[dataset][name] = {"equation_acc": float(np.mean([r["equation_acc"] for r in rows])),
                                      "answer_acc": float(np.mean([r["answer_acc"] for r in rows])),
                                      "folds": len(rows), "n": sum(r["n"] for r in rows),
                                      "params": rows[0]["params"]}
    return out


def main_table(results: dict) -> str:
    """One row per model, accuracies averaged over the folds of each evaluation dataset; then the
    student/teacher ratios of answer accuracy, parameters and encoding speed."""
    means = fold_means(results)
    datasets, names = list(means), _row_names(results)
    speeds = [t["speed"] for t in results["tasks"]]
    teacher_speed = float(np.mean([s["teacher"] for s in speeds]))
    student_speed = float(np.mean([s["student"] for s in speeds]))
    folds = {d: len(_by_dataset(results)[d]) for d in datasets}
    header = "| model | params | " + " | ".join(
        f"{d} ({folds[d]}-fold mean) eq. / ans. %" if folds[d] > 1 else f"{d} eq. / ans. %" for d in datasets)
    lines = [header + " | questions/s |", "|" + "---|" * (3 + len(datasets))]
    params = {}
    for name in names:
        cells = []
        for d in datasets:
            m = means[d].get(name)
            params.setdefault(name, m["params"]) if m else None
            if m is None:
                cells.append("-")
                continue
            note = f" ({m['folds']} of {folds[d]} folds)" if m["folds"] < folds[d] else ""
            cells.append(f"{_pct(m['equation_acc'])} / {_pct(m['answer_acc'])}{note}")
        speed = student_speed if name.startswith("student") else teacher_speed if name.startswith("teacher (") else 0
        lines.append(f"| {name} | {params[name] / 1e6:.1f}M | " + " | ".join(cells) + f" | {f'{speed:.0f}' if speed else '-'} |")
    teachers = [n for n in names if n.startswith("teacher (")]
    students = [n for n in names if n.startswith("student")]
    if teachers and students:
        lines += ["", ("Student answer accuracy as a fraction of the fine-tuned teacher's (and of the better of the "
                  "frozen and fine-tuned teacher rows):"), "",
                  "| student | " + " | ".join(datasets) + " |", "|" + "---|" * (1 + len(datasets))]
        groups = _by_dataset(results)
        for name in students:
            cells = []
            for d in datasets:
                # over the folds that have the student and every teacher row, so the means compare alike
                folds = [t["rows"] for t in groups[d] if name in t["rows"] and all(r in t["rows"] for r in teachers)]
                student = sum(f[name]["answer_acc"] for f in folds)
                ft = sum(f["teacher (fine-tuned)"]["answer_acc"] for f in folds) if "teacher (fine-tuned)" in teachers else 0
                best = max(sum(f[t]["answer_acc"] for f in folds) for t in teachers)
                cells.append(f"{student / ft:.2f} ({student / best:.2f})" if folds and ft and best else "-")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    load = ", ".join(f"{s['load_average'][0]:.1f}" for s in speeds)
    note = (f"Encoding speed: up to {speeds[0]['sentences']} evaluation questions per task, batch 32, "
            f"{speeds[0].get('threads', results['config']['threads'])} thread(s), teacher and student in the same "
            f"process; 1-minute load averages at the measurements: {load}. ")
    if teachers and students:
        note += (f"Student/teacher speed ratio: {student_speed / teacher_speed:.1f}x; parameter ratio: "
                 f"{params[students[0]] / params[teachers[0]]:.3f}.")
    lines += ["", note]
    lines += ["", "Answer accuracy % per task (each fold on its own):", "",
              "| model | " + " | ".join(_short(t["task"]) for t in results["tasks"]) + " |",
              "|" + "---|" * (1 + len(results["tasks"]))]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_pct(t["rows"][name]["answer_acc"]) if name in t["rows"] else "-"
                                                 for t in results["tasks"]) + " |")
    if results.get("unfinished_tasks"):
        lines += ["", "Tasks stopped before their last model (their finished rows are included): "
                  + ", ".join(results["unfinished_tasks"])]
    if results.get("missing_tasks"):
        lines += ["", "Tasks not run (not in the means): " + ", ".join(results["missing_tasks"])]
    return "\n".join(lines) + "\n"


def _short(task: str) -> str:
    """ "mawps:cv1-train>mawps:cv1-dev" -> "mawps cv1"; "mawps-asdiv-a:train>svamp:test" -> "svamp" """
    dataset, _, split = task.split(">")[1].strip().partition(":")
    return f"{dataset} {split.split('-')[0]}" if split.startswith("cv") else dataset


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
    """Answer accuracy of every model on every evaluation dataset (fold means), grouped by dataset."""
    means = fold_means(results)
    names, datasets = _row_names(results), list(means)
    fig, axes = _figure(1)
    ax = axes if not isinstance(axes, np.ndarray) else axes[0]
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        ax.bar(np.arange(len(datasets)) + k * width,
               [100 * means[d][name]["answer_acc"] if name in means[d] else 0 for d in datasets], width, label=name)
    ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2, datasets)
    ax.set_ylabel("answer accuracy (%)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
