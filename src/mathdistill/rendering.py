"""Report rendering shared by both pipelines: Markdown tables, Markdown to an HTML page, figures.

Reports are written once, as Markdown; the HTML page is that Markdown through markdown-it-py
(CommonMark with pipe tables), in a page whose images scale to its width.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

PAGE_CSS = ("body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0;display:block;overflow-x:auto}"
            "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td:first-child,th:first-child{text-align:left}"
            "img{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 .2em}")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; cells are escaped so a '|' in a run name does not split its cell."""
    def cell(c: object) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(cell, r)) + " |" for r in rows])


def markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def html_page(title: str, markdown: str) -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>\n"
            f"<body>\n{markdown_to_html(markdown)}</body></html>\n")


def figure(ncols: int = 1, width: float = 5.0, height: float = 4.0):
    """A matplotlib figure and its axes (a row of `ncols`), drawn off-screen."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on build machines
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)


def save_figure(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
