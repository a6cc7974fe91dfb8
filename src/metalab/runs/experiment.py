"""The experiment contract: a named, configured run that writes a run folder.

An experiment's configuration is a frozen dataclass with defaults (parsed from the command
line by tyro) that validates itself in ``__post_init__`` by raising ``BadInput``, so bad input
fails before any compute. Every configuration has ``quick`` (reduced budget, about 2 minutes
on 2 CPU cores), ``seed`` and ``resolved()``, which returns the configuration actually run
(``quick`` applied); the CLI writes that to ``config.json`` and passes it to ``run``.
``run(config, rundir)`` trains, evaluates, writes figures, ``summary.json`` and ``report.md``
(through ``rundir``) and returns the summary metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``metalab run NAME`` builds ``config`` and calls ``run``."""

    name: str
    description: str  # one line for ``metalab list``
    expected_time: str  # wall time at default settings on 2 CPU cores, e.g. "3 min"
    config: type
    run: Callable[[Any, RunDir], dict[str, float]]
