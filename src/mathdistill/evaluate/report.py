"""`mathdistill report RUN_DIR...`: evaluation runs side by side, as Markdown + HTML + plots.

A run is a directory holding `metrics.json` (written by `mathdistill evaluate`); directories are
searched recursively, so passing `runs/` reports every evaluation under it. Plots:
accuracy per thought, vote and oracle for each run and split; and, when the runs' students were
trained on different numbers of problems, a data-scale curve (accuracy vs training problems).
Encoder-distillation results (`mathdistill encoder-kd`: main.json, compression*.json, probes*.json)
found under the same paths get their tables and plots too.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from ..thoughts import THOUGHTS

COLUMNS = (*THOUGHTS, "vote", "vote_plausible", "oracle")  # vote_plausible: "-" in older metrics


class ReportError(ValueError):
    pass


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict

    @property
    def training_problems(self) -> int | None:
        return (self.metrics.get("training") or {}).get("problems")


def find_runs(paths: list[Path]) -> list[Run]:
    files: list[Path] = []
    for p in paths:
        if p.is_file() and p.name == "metrics.json":
            files.append(p)
        elif p.is_dir():
            files += sorted(p.rglob("metrics.json"))
        elif not (p.is_file() and p.suffix == ".json"):
            raise ReportError(f"{p}: not a directory or a results JSON")
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(r.name, spec, m) for r in runs for spec, m in r.metrics["splits"].items()]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 2), 4))
    width = 0.8 / len(COLUMNS)
    for j, col in enumerate(COLUMNS):
        values = [100 * (_blocks(m).get(col) or {}).get("accuracy", 0) for _, _, m in groups]
        ax.bar([i + j * width for i in range(len(groups))], values, width, label=col)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{_wrap_label(name)}\n{spec}" for name, spec, _ in groups], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per thought, vote and oracle")
    ax.legend(fontsize=8, ncol=len(COLUMNS))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_data_scale(runs: list[Run], out: Path) -> Path | None:
    """Accuracy vs number of training problems; None unless runs differ in training size."""
    sized = [r for r in runs if r.training_problems]
    if len({r.training_problems for r in sized}) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    specs = sorted({spec for r in sized for spec in r.metrics["splits"]})
    fig, axes = plt.subplots(1, len(specs), figsize=(5 * len(specs), 4), squeeze=False)
    for ax, spec in zip(axes[0], specs):
        points = sorted(((r.training_problems, r.metrics["splits"][spec]) for r in sized if spec in r.metrics["splits"]),
                        key=lambda point: point[0])
        for col in COLUMNS[:-1]:  # the oracle is not a method: leave it out of the curve
            have = [(n, _blocks(m)[col]) for n, m in points if (_blocks(m).get(col) or {}).get("n")]
            xs, ys = [n for n, _ in have], [100 * b["accuracy"] for _, b in have]
            if xs:
                ax.plot(xs, ys, marker="o", label=col)
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_xlabel("training problems")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(spec)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_ENCODER_KINDS = {"main": "Encoder distillation", "compression": "Compression study", "probes": "Probes"}


def _encoder_kind(path: Path, data) -> str | None:
    """Which encoder-kd result a JSON file is (by name and shape), or None."""
    kind = next((k for k in _ENCODER_KINDS if path.stem.startswith(k)), None)
    if kind is None or not isinstance(data, dict):
        return None
    if kind == "main":
        return kind if isinstance(data.get("tasks"), list) and "teacher" in data.get("config", {}) else None
    rows = data.get("rows")
    key = "method" if kind == "compression" else "representation"
    return kind if isinstance(rows, list) and rows and key in rows[0] else None


def find_encoder_results(paths: list[Path]) -> list[tuple[Path, str, dict]]:
    """(file, kind, data) of every encoder-kd result under `paths` (per-task files are inside main.json)."""
    found = []
    for p in paths:
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p] if p.suffix == ".json" else []
        for f in files:
            if f.name == "metrics.json" or f.parent.name == "tasks" or not f.stem.startswith(tuple(_ENCODER_KINDS)):
                continue
            try:
                data = json.loads(f.read_text())
            except json.JSONDecodeError as e:
                raise ReportError(f"{f}: not valid JSON ({e})") from None
            if kind := _encoder_kind(f, data):
                found.append((f, kind, data))
    order = list(_ENCODER_KINDS)
    return sorted(found, key=lambda item: (str(item[0].parent), order.index(item[1]), item[0].name))


def encoder_sections(found: list[tuple[Path, str, dict]], out: Path) -> list[tuple[str, str, Path]]:
    """(title, Markdown, plot) per encoder-kd result; the plots are drawn into `out`."""
    from ..encoder_kd import report as ekd

    sections = []
    for f, kind, data in found:
        plot = out / f"encoder-{f.parent.name}-{f.stem}.png"
        getattr(ekd, f"plot_{kind}")(data, plot)
        sections.append((f"{_ENCODER_KINDS[kind]} ({f.parent.name}/{f.name})", getattr(ekd, f"{kind}_table")(data), plot))
    return sections


def _markdown_to_html(text: str) -> str:
    """The encoder-kd Markdown (pipe tables and plain paragraphs) as HTML."""
    parts, table = [], []

    def flush() -> None:
        if table:
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table]
            parts.append(_html_table(cells[0], [r for r in cells[1:] if not all(set(c) <= set("-:") for c in r)]))
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.strip():
            parts.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(parts)


def write_report(paths: list[Path], out: Path) -> Path:
    """Write report.md, report.html and PNG plots into `out`; returns the Markdown path."""
    runs, encoder = find_runs(paths), find_encoder_results(paths)
    if not runs and not encoder:
        raise ReportError(f"no metrics.json (or encoder-kd results) under {', '.join(map(str, paths))}; "
                          "run `mathdistill evaluate` first")
    out.mkdir(parents=True, exist_ok=True)
    md = ["# mathdistill report", ""]
    page = ["<!doctype html><meta charset='utf-8'><title>mathdistill report</title>",
            ("<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}</style>"),
            "<h1>mathdistill report</h1>"]
    if runs:
        acc_header = ["run", "split", "problems", *COLUMNS]
        train_header = ["run", "student", "thoughts", "tuning", "train problems", "rows", "steps", "tokens/s"]
        sections = [("Accuracy", acc_header, accuracy_rows(runs)), ("Training", train_header, training_rows(runs))]
        plots = [p for p in (plot_accuracy(runs, out / "accuracy.png"), plot_data_scale(runs, out / "data_scale.png")) if p]
        policies = sorted({r.metrics.get("cot_policy", "?") for r in runs})
        tie = runs[0].metrics.get("vote_tie_rule", "")
        note = (f"CoT answers extracted with the {', '.join(policies)} policy; PoT run in the sandbox; EoT solved "
                f"exactly. Vote: majority of the thoughts' answers, ties to {tie}; vote_plausible: the same over the most "
                f"plausible answers only (whole numbers >= 0 first, negatives last). Oracle: any thought right.")
        md += [note, ""]
        page.append(f"<p>{html.escape(note)}</p>")
        for title, header, rows in sections:
            if rows:
                md += [f"## {title}", "", _md_table(header, rows), ""]
                page += [f"<h2>{title}</h2>", _html_table(header, rows)]
        for p in plots:
            md += [f"![{p.stem}]({p.name})", ""]
            page.append(f"<p><img src='{p.name}' alt='{p.stem}'></p>")
    for title, text, plot in encoder_sections(encoder, out):
        md += [f"## {title}", "", text, f"![{plot.stem}]({plot.name})", ""]
        page += [f"<h2>{html.escape(title)}</h2>", _markdown_to_html(text), f"<p><img src='{plot.name}' alt='{plot.stem}'></p>"]
    (out / "report.html").write_text("\n".join(page), encoding="utf-8")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    return out / "report.md"
