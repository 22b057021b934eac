"""Experiment configs: a YAML file per experiment, fields of a dataclass; CLI flags override.

`load_config(Cls, path, overrides)` reads the YAML, applies `key=value` overrides (values parsed
as YAML, so `samples=4`, `thoughts=[pot,eot]` work), and rejects unknown keys with the file name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    pass


def load_config(cls: type[T], path: Path | str | None = None, overrides: dict[str, Any] | None = None,
                section: str | None = None) -> T:
    data: dict[str, Any] = {}
    source = "overrides"
    if path:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if section:
            loaded = loaded.get(section, {})
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of fields")
        data.update(loaded)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    try:
        return cls(**data)
    except TypeError as e:
        raise ConfigError(f"{source}: {e}") from None


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """['samples=4', 'thoughts=[pot, eot]'] -> {'samples': 4, 'thoughts': ['pot', 'eot']}"""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r} is not key=value")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str) and _FLOAT.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads "1e-4" (no dot) as a string
        out[key.strip()] = parsed
    return out


_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)
