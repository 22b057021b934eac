"""`mathdistill report PATH...`: one report over evaluation runs and encoder-distillation results.

Directories are searched recursively: every `metrics.json` is an evaluation run (tables and plots
from `evaluate.run_tables`), and encoder-kd results (main.json, compression*.json, probes*.json)
get the tables and plots of `encoder_kd.summary`. A path that is neither (a README caught by a
shell glob) is skipped with a note. The report is written once as Markdown and rendered to HTML.
"""

from __future__ import annotations

import json
from pathlib import Path

from .evaluate.run_tables import (
    COLUMNS,
    accuracy_rows,
    coverage_rows,
    find_runs,
    plot_accuracy,
    plot_coverage,
    plot_data_scale,
    training_rows,
)
from .rendering import html_page, md_table


class ReportError(ValueError):
    pass


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
    from .encoder_kd import summary as ekd

    sections = []
    for f, kind, data in found:
        plot = out / f"encoder-{f.parent.name}-{f.stem}.png"
        getattr(ekd, f"plot_{kind}")(data, plot)
        sections.append((f"{_ENCODER_KINDS[kind]} ({f.parent.name}/{f.name})", getattr(ekd, f"{kind}_table")(data), plot))
    return sections


def skipped_paths(paths: list[Path], runs, encoder) -> list[Path]:
    """Paths that hold no evaluation run and no encoder-kd result."""
    used = [r.path for r in runs] + [f for f, _, _ in encoder]
    def holds(p: Path) -> bool:
        p = p.resolve()
        return any(u.resolve() == p or p in u.resolve().parents for u in used)
    return [p for p in paths if not holds(p)]


def write_report(paths: list[Path], out: Path) -> tuple[Path, list[Path]]:
    """Write report.md, report.html and PNG plots into `out`; returns the Markdown path and the
    paths skipped because they hold no results."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ReportError(f"{missing[0]}: no such file or directory")
    runs, encoder = find_runs(paths), find_encoder_results(paths)
    if not runs and not encoder:
        raise ReportError(f"no metrics.json (or encoder-kd results) under {', '.join(map(str, paths))}; "
                          "run `mathdistill evaluate` first")
    out.mkdir(parents=True, exist_ok=True)
    md = ["# mathdistill report", ""]
    if runs:
        policies = sorted({r.metrics.get("cot_policy", "?") for r in runs})
        tie = runs[0].metrics.get("vote_tie_rule", "")
        md += [f"CoT answers extracted with the {', '.join(policies)} policy; PoT run in the sandbox; EoT solved "
               f"exactly. Vote: majority of the thoughts' answers, ties to {tie}; vote_plausible: the same over the "
               "most plausible answers only (whole numbers >= 0 first, negatives last). Oracle: any thought right.", ""]
        tables = [("Accuracy", ["run", "split", "problems", *COLUMNS], accuracy_rows(runs)),
                  ("Training", ["run", "student", "thoughts", "tuning", "train problems", "rows", "steps", "tokens/s"],
                   training_rows(runs)),
                  ("Accuracy at coverage (answer only when at least k thoughts agree)",
                   ["run", "split", "agreeing thoughts", "coverage", "accuracy among answered"], coverage_rows(runs))]
        for title, header, rows in tables:
            if rows:
                md += [f"## {title}", "", md_table(header, rows), ""]
        plots = [plot_accuracy(runs, out / "accuracy.png"), plot_coverage(runs, out / "coverage.png"),
                 plot_data_scale(runs, out / "data_scale.png")]
        md += [f"![{p.stem}]({p.name})\n" for p in plots if p]
    for title, text, plot in encoder_sections(encoder, out):
        md += [f"## {title}", "", text, "", f"![{plot.stem}]({plot.name})", ""]
    text = "\n".join(md)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(html_page("mathdistill report", text), encoding="utf-8")
    return out / "report.md", skipped_paths(paths, runs, encoder)
