"""Typed configs: one dataclass per command, validated at the edge, and the CLI generated from it.

A config is a plain dataclass whose type hints are the rules (`int`, `float | None`,
`Literal["gold", "openai"]`, `list[Thought]`, `Annotated[int, Field(ge=1)]`, ...). Values reach it
from three places, all checked the same way by pydantic against those hints before any work:

* a YAML file (the whole file, or one section of a multi-stage experiment file);
* command-line options, one per field (`config_command` builds them from the dataclass);
* `--set key=value` overrides (values parsed as YAML, so `thoughts=[pot,eot]` works).

A bad value is one line naming the field: ``epochs: expected an integer, got 'foo'``; an unknown
key names the valid ones. Checks across fields live in the config's `validate()` method, which
`load_config` calls once every field is known.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Optional, TypeVar

import yaml

T = TypeVar("T")

THOUGHT = Literal["cot", "pot", "eot"]
POLICY = Literal["strict", "flexible"]
BF16 = Literal["auto", "true", "false"] | bool


class ConfigError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# Field options for the generated CLI


@dataclasses.dataclass(frozen=True)
class Cli:
    """How a config field appears on the command line (metadata key "cli")."""

    help: str = ""
    flags: tuple[str, ...] = ()  # e.g. ("--split",) or ("--lora/--full",); default: --field-name
    sep: str | None = None  # list fields: also split each value on this ("cot,pot")
    positional: bool = False
    hidden: bool = False  # only through the config file or --set


def opt(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, help: str = "",
        flags: tuple[str, ...] | str = (), sep: str | None = None, positional: bool = False,
        hidden: bool = False) -> Any:
    """A dataclass field with its CLI presentation."""
    meta = {"cli": Cli(help, (flags,) if isinstance(flags, str) else tuple(flags), sep, positional, hidden)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------------------------------------
# Validation


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def _adapter(tp: Any):
    from pydantic import TypeAdapter

    return TypeAdapter(tp)


def _expected(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind.startswith("int_") or kind == "int_type":
        return "expected an integer"
    if kind.startswith("float_"):
        return "expected a number"
    if kind.startswith("bool_"):
        return "expected true or false"
    if kind == "string_type":
        return "expected a string"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "expected a list"
    if kind in ("dict_type", "model_type", "dataclass_type"):
        return "expected a mapping"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    for bound, words in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if bound in ctx:
            return f"expected a number {words} {ctx[bound]}"
    return err.get("msg", "invalid value").lower()


def check_value(cls: type, name: str, value: Any) -> Any:
    """`value` converted to the field's type, or ConfigError ``name: expected ..., got ...``."""
    from pydantic import ValidationError

    try:
        return _adapter(_hints(cls)[name]).validate_python(value)
    except ValidationError as e:
        errors = [x for x in e.errors() if x["type"] != "none_required"] or e.errors()
        first = errors[0]
        where = name + "".join(f"[{p}]" for p in first["loc"] if isinstance(p, int))
        got = first.get("input", value)
        raise ConfigError(f"{where}: {_expected(first)}, got {got!r}") from None


def load_config(cls: type[T], path: Path | str | None = None, overrides: dict[str, Any] | None = None,
                section: str | None = None) -> T:
    """A config from a YAML file (or one section of it) plus overrides, every value checked."""
    data: dict[str, Any] = {}
    source = "options"
    if path:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a YAML config") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or 'parse error'})") from None
        # a multi-stage experiment file holds one section per command; a plain file holds the fields
        section = section or (guess_section(loaded, cls) if isinstance(loaded, dict) else None)
        if section and isinstance(loaded, dict) and isinstance(loaded.get(section), dict):
            loaded = loaded[section]
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of fields")
        data.update(loaded)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    values = {k: check_value(cls, k, v) for k, v in data.items()}
    try:
        cfg = cls(**values)
    except TypeError as e:
        raise ConfigError(f"{source}: {e}") from None
    return _cross_checked(cfg)


def validated(cfg: T) -> T:
    """Check a config built in code (not through `load_config`) by the same rules; returns it."""
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        check_value(type(cfg), f.name, getattr(cfg, f.name))
    return _cross_checked(cfg)


def _cross_checked(cfg: T) -> T:
    """The config's own checks across fields (its `validate()`, when it has one)."""
    check = getattr(cfg, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as e:
            raise ConfigError(str(e)) from None
    return cfg


SECTIONS: dict[str, str] = {}  # config class name -> its section in multi-stage experiment files


def guess_section(data: dict, cls: type) -> str | None:
    """The section of a multi-stage experiment file that holds this config, when it has one."""
    name = SECTIONS.get(cls.__name__)
    return name if name and isinstance(data.get(name), dict) else None


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """['samples=4', 'thoughts=[pot, eot]'] -> {'samples': 4, 'thoughts': ['pot', 'eot']}"""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected key=value")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, str) and _FLOAT.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads "1e-4" (no dot) as a string
        out[key.strip()] = parsed
    return out


_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


# ---------------------------------------------------------------------------------------------
# The CLI, generated from the config


def _kind(tp: Any) -> str:
    """'bool', 'list' or 'scalar' (what kind of option a field type makes); 'complex' for the rest."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if tp is bool:
        return "bool"
    if origin in (list, tuple):
        return "list"
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind(a) for a in args}
        if kinds == {"bool"}:
            return "bool"
        return "scalar" if kinds <= {"scalar", "bool"} else "complex"
    if origin is Literal or tp in (int, float, str, Path):
        return "scalar"
    return "complex"


def _metavar(tp: Any) -> str:
    text = str(tp)
    if "Literal" in text:
        choices = re.findall(r"'([^']+)'", text)
        return "|".join(dict.fromkeys(choices)).upper() if choices else "VALUE"
    for word, mv in (("float", "NUMBER"), ("int", "INTEGER")):
        if word in text:
            return mv
    return "TEXT"


def config_command(app, name: str, cls: type, run: Callable[[Any], None], *, help: str,
                   config_file: bool = True, section: str | None = None) -> None:
    """Register `name` on the typer `app`: one option per field of `cls`, a YAML config argument,
    `--set key=value`; values checked by `load_config` before `run(cfg)` is called."""
    import typer

    if section:
        SECTIONS[cls.__name__] = section
    hints = _hints(cls)
    params: list[inspect.Parameter] = []
    annotations: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}

    def add(pname: str, annotation: Any, default: Any) -> None:
        params.append(inspect.Parameter(pname, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                        annotation=annotation))
        annotations[pname] = annotation

    for f in fields.values():
        cli: Cli = f.metadata.get("cli", Cli())
        if cli.positional:
            kind = _kind(hints[f.name])
            ann = list[str] if kind == "list" else str
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            add(f.name, Optional[ann], typer.Argument(... if required else None, help=cli.help,
                                                      metavar=f.name.upper(), show_default=False))
    if config_file:
        add("config", Optional[Path], typer.Argument(None, help="YAML config (the whole file, or its "
                                                     f"'{section or name}' section)", show_default=False))
    for f in fields.values():
        cli = f.metadata.get("cli", Cli())
        kind = _kind(hints[f.name])
        if cli.positional or cli.hidden or kind == "complex":
            continue
        flags = cli.flags or ("--" + f.name.replace("_", "-"),)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        shown = f"{cli.help} " if cli.help else ""
        shown += f"\\[default: {default if not isinstance(default, list) else ','.join(map(str, default))}]"
        if kind == "bool":
            if len(flags) == 1 and "/" not in flags[0]:
                flags = (f"{flags[0]}/--no-{flags[0][2:]}",)
            add(f.name, Optional[bool], typer.Option(None, *flags, help=shown, show_default=False))
        elif kind == "list":
            add(f.name, Optional[list[str]], typer.Option(None, *flags, help=shown + " (repeatable"
                                                         + (f"; or {cli.sep}-separated)" if cli.sep else ")"),
                                                         metavar=_metavar(hints[f.name]), show_default=False))
        else:
            add(f.name, Optional[str], typer.Option(None, *flags, help=shown, metavar=_metavar(hints[f.name]),
                                                   show_default=False))
    add("set_", Optional[list[str]], typer.Option(None, "--set", metavar="KEY=VALUE", show_default=False,
                                                  help="override any config field (repeatable); "
                                                       f"fields: {', '.join(fields)}"))

    def command(**kwargs: Any) -> None:
        path = kwargs.pop("config", None)
        overrides: dict[str, Any] = {}
        for fname, value in kwargs.items():
            if fname == "set_" or value is None or value == []:
                continue
            cli = fields[fname].metadata.get("cli", Cli())
            if isinstance(value, list) and cli.sep:
                value = [part.strip() for v in value for part in v.split(cli.sep) if part.strip()]
            overrides[fname] = value
        overrides.update(parse_overrides(kwargs.get("set_")))
        run(load_config(cls, path, overrides, section=section))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    command.__name__ = name.replace("-", "_")
    command.__doc__ = help
    app.command(name, help=help)(command)
