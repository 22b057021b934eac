"""`verifier evaluate`'s report: a table per split (every selection of every verifier), the
scorers' AUROC, and one plot of accuracy-at-coverage curves beside the reliability diagram."""

from __future__ import annotations

import re
from pathlib import Path

from ..rendering import figure, md_table, save_figure


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def write_report(result: dict, out: Path) -> Path:
    read = result["read"]
    lines = ["# Verifier evaluation", "",
             f"{read['problems']} problems, k = {read['k']} candidates per thought ({', '.join(read['thoughts'])}): "
             f"**{read['generations_per_problem']} generations per problem** for every method below.", ""]
    if result.get("command"):
        lines += ["```", result["command"], "```", ""]
    for spec, block in result["splits"].items():
        lines += [f"## {spec} ({block['problems']} problems, oracle {_pct(block['oracle'])})", ""]
        rows = []
        for key, m in block["rows"].items():
            t = m["at_threshold"]
            rows.append([key, f"{_pct(m['accuracy'])} ± {_pct(m['stderr'])}",
                         f"{_pct(m['at_coverage']['accuracy'])} ({_pct(m['at_coverage']['coverage'])})",
                         f"{_pct(t['accuracy'])} ({_pct(t['coverage'])})", m["auroc"] if m["auroc"] is not None else "-",
                         m["ece"]])
        lines += [md_table(["selection", "accuracy (all)", "accuracy at coverage", "at the validation threshold "
                            "(coverage)", "AUROC (selection)", "ECE"], rows), ""]
        lines += [md_table(["verifier", "scorer", "candidates", "AUROC (candidates)"],
                           [[n, s["scorer"], s["candidates"], s["auroc"] if s["auroc"] is not None else "-"]
                            for n, s in block.get("scorers", {}).items()]), ""]
        lines += [f"![accuracy at coverage]({_plot(block, spec, out)})", ""]
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"


def _plot(block: dict, spec: str, out: Path) -> str:
    try:
        fig, axes = figure(ncols=2)
    except ImportError:  # matplotlib is the report extra
        return "(plots need matplotlib: pip install 'mathdistill[report]')"
    ax, rel = axes[0]
    for key, m in block["rows"].items():
        ax.plot([c["coverage"] for c in m["curve"]], [c["accuracy"] for c in m["curve"]], label=key)
        bins = [b for b in m["reliability"] if b["n"]]
        rel.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=key)
    ax.set(xlabel="coverage (share of problems answered)", ylabel="accuracy among answered", title=spec,
           xlim=(0, 1), ylim=(0, 1))
    rel.plot([0, 1], [0, 1], color="grey", linestyle=":")
    rel.set(xlabel="calibrated confidence", ylabel="accuracy", title="reliability", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7)
    name = "coverage_" + re.sub(r"[^\w.-]+", "_", spec) + ".png"
    save_figure(fig, out / name)
    return name
