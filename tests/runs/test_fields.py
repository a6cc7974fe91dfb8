"""The checks every configuration gets: finite numbers, integers in range, and config-file
values of their field's declared type."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from metalab.cli import main
from metalab.errors import BadInput
from metalab.runs.fields import check_types, check_values


@dataclass(frozen=True)
class Config:
    steps: int = 10
    lr: float = 0.1
    quick: bool = False
    widths: tuple[int, ...] = (4,)
    mode: Literal["a", "b"] = "a"
    data: Path | None = None
    seed: int = 0


@pytest.mark.parametrize("values", [{"steps": 3}, {"lr": 1}, {"lr": 0.5}, {"quick": True},
                                    {"widths": [1, 2]}, {"mode": "b"}, {"data": None},
                                    {"data": "x/y"}])
def test_values_of_the_declared_type_pass(values):
    check_types(Config, values, "c.json")


@pytest.mark.parametrize("values, option", [
    ({"steps": 2.5}, "--steps"), ({"steps": True}, "--steps"), ({"lr": "fast"}, "--lr"),
    ({"quick": 1}, "--quick"), ({"widths": "44"}, "--widths"), ({"widths": [1.5]}, "--widths"),
    ({"mode": "c"}, "--mode"), ({"data": 3}, "--data")])
def test_values_of_another_type_name_the_option(values, option):
    with pytest.raises(BadInput, match=f"^{option}: c.json gives"):
        check_types(Config, values, "c.json")


@pytest.mark.parametrize("config, option", [
    (Config(lr=float("inf")), "--lr"), (Config(lr=float("nan")), "--lr"),
    (Config(seed=-1), "--seed"), (Config(seed=2**32), "--seed"), (Config(steps=2**63), "--steps"),
    (Config(widths=(4, 2**64)), "--widths")])
def test_non_finite_or_overflowing_numbers_are_refused(config, option):
    with pytest.raises(BadInput, match=f"^{option}: must be"):
        check_values(config)
    check_values(Config())


@pytest.mark.parametrize("command, listed", [("run", "sinusoid"), ("sweep", "sinusoid"),
                                             ("bench", "omniglot")])
def test_help_of_named_commands_lists_the_choices(command, listed, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: metalab {command}" in out and f"  {listed} " in out
