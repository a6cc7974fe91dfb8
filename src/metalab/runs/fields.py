"""Checks every experiment's configuration gets before compute, whatever the experiment: each
number finite and in range, and each value from a config file of its field's declared type.

The command line is typed by tyro already; a JSON or YAML file is not, and would otherwise
pass ``100.5`` or ``true`` as a step count, or a string where a list is expected (split into
characters). Both sources then meet ``check_values``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

from metalab.errors import BadInput, flag

INT64 = 2**63
SEED_MAX = 2**32 - 1  # a PRNG seed is a 32-bit unsigned integer in every backend


def check_values(config: Any) -> None:
    """``BadInput`` naming the option if a number of ``config`` is NaN or infinite, or an
    integer overflows (seeds: 0 .. 2^32 - 1)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            _check_number(field.name, item)


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(flag(name), f"must be a finite number, got {value}")
    if isinstance(value, int):
        low, high = (0, SEED_MAX) if name == "seed" else (-INT64, INT64 - 1)
        if not low <= value <= high:
            raise BadInput(flag(name), f"must be an integer from {low} to {high}, got {value}")


def check_types(cls: type, values: dict[str, Any], source: str) -> None:
    """``BadInput`` naming the option and ``source`` if a value read from a file is not of
    its field's declared type (a list stands for a tuple; an int for a float)."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not _matches(value, hints[name]):
            raise BadInput(flag(name), f"{source} gives {value!r}, which is not "
                           f"{_describe(hints[name])}; fix it in the file")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON/YAML ``value`` can stand for a field typed ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(map(_matches, value, args))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is Path:
        return isinstance(value, str)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    """A reader's name for a type hint, e.g. ``an integer`` or ``a list``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if origin is tuple:
        return "a list"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             Path: "a path (a string)", type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def refuse_overrides(given: Any, resolved: Any, argv: list[str]) -> None:
    """``BadInput`` if ``resolved()`` replaced a value the user gave on the command line
    (``--quick`` shrinking an explicit ``--steps``, ``--learner`` replacing ``--methods``):
    the run would silently differ from what was asked. An option that ``resolved()`` consumes
    and resets to its default (``--learner``, moved into ``methods``) is not a conflict."""
    defaults = {f.name: f.default for f in dataclasses.fields(given)}
    for token in argv:
        if not token.startswith("--"):
            continue
        name = token[2:].split("=")[0].replace("-", "_")
        name = name[3:] if name not in defaults and name.startswith("no_") else name
        if name in defaults and getattr(given, name) != getattr(resolved, name) \
                and getattr(resolved, name) != defaults[name]:
            cause = "--quick" if getattr(given, "quick", False) and getattr(
                dataclasses.replace(given, quick=False).resolved(), name) == getattr(
                given, name) else "another option"
            raise BadInput(flag(name), f"{getattr(given, name)!r} would be replaced by "
                           f"{getattr(resolved, name)!r} (set by {cause}); give only one "
                           "of them")
