"""The experiment contract: a named, configured run that writes a run folder.

An experiment's configuration is a frozen dataclass with defaults (parsed from the command
line by tyro) that validates itself in ``__post_init__`` by raising ``BadInput``. Input that
needs more than the configuration (data folders and files, earlier runs) is validated by the
experiment's optional ``check(config)``, which the CLI calls before the run folder is created,
so refused input writes nothing. Every configuration has ``quick`` (a reduced budget, timed
in ``quick_time`` where measured), ``seed`` and ``resolved()``, which returns the
configuration actually run (``quick`` applied); the CLI writes that to ``config.json`` and
passes it to ``run``.
An experiment that leaves trained meta-parameters behind may give ``learners(config)``, the
learner of each stage checkpointed under ``checkpoints/<stage>/``, rebuilt from the
configuration alone, so ``metalab.load_run`` can hand a finished run back to Python.
``run(config, rundir)`` trains, evaluates, writes figures, ``summary.json`` and ``report.md``
(through ``rundir``) and returns the summary metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from metalab.errors import BadInput
from metalab.learners.base import Learner
from metalab.runs.fields import check_types
from metalab.runs.rundir import RunDir

Seeding = Literal["vmapped", "loop", "folders"]
SEEDINGS = ("vmapped", "loop", "folders")
SMOKE_CADENCE = ("--log-every", "1", "--checkpoint-every", "2")
"""the logging and checkpoint cadence of most tiny-budget runs"""


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``metalab run NAME`` builds ``config`` and calls ``run``."""

    name: str
    description: str  # one line for ``metalab list``
    expected_time: str  # wall time at default settings on 2 CPU cores, e.g. "3 min"
    config: type
    run: Callable[[Any, RunDir], dict[str, float]]
    check: Callable[[Any], None] | None = None  # BadInput on bad data, before any write
    quick_time: str | None = None  # wall time with --quick on 2 CPU cores, where measured
    # Options (as typed, e.g. "inner-lr") that ``run_points`` can vmap: a sweep over them
    # trains its points as one program, ``run_points(configs, seeds, rundir, group, finish)``
    # (see ``metalab.sweep``); other swept options compile once per value.
    # Its programs are so small that one XLA CPU thread runs them faster than the pool of
    # every core (``training.threads``; override with METALAB_CPU_THREADS).
    small: bool = False
    traced: tuple[str, ...] = ()
    run_points: Callable[..., list[dict[str, Any]]] | None = None
    # The learner of each checkpointed stage, from the resolved configuration (``load_run``).
    learners: Callable[[Any], dict[str, Learner]] | None = None
    # How ``metalab run NAME --seeds N`` runs N seeds (``runs.seeds``): "vmapped", the
    # config's own ``seeds`` option, every seed trained as one program by
    # ``runs.stage.train_seeds``; "loop", the config's own ``seeds`` option, seeds run one
    # after another by the experiment for the reason ``seeding_reason`` states; "folders", no
    # option of its own: vmapped through ``run_points`` where given, else one run folder per
    # seed, one after another.
    seeding: Seeding = "folders"
    seeding_reason: str = ""
    # The options of a tiny-budget run, as typed after ``metalab run NAME`` (the smoke test
    # runs every registered experiment with them), and the summary keys the experiment
    # documents (present in that run's summary; one ending in "?" may be null there).
    smoke: tuple[str, ...] | None = None
    summary_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """The seeding declared agrees with the configuration's fields."""
        own = any(f.name == "seeds" for f in dataclasses.fields(self.config))
        if self.seeding not in SEEDINGS:
            raise ValueError(f"{self.name}: seeding {self.seeding!r} is not one of {SEEDINGS}")
        if own != (self.seeding != "folders"):
            raise ValueError(f"{self.name}: {self.config.__name__} has {'a' if own else 'no'} "
                             f"`seeds` option, so its seeding is not {self.seeding!r}")
        if (self.seeding == "loop") != bool(self.seeding_reason):
            raise ValueError(f"{self.name}: a reason is given for seeding 'loop' and only there")


def preset(config: Any, values: Mapping[str, Any]) -> Any:
    """``config`` with ``values`` (a regime's settings, e.g. a paper's) in every field still
    at its default, so that options given on the command line win over the regime (a paper
    preset with ``--steps 2`` runs two steps)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"{type(config).__name__} has no fields {unknown}")
    return dataclasses.replace(config, **{k: v for k, v in values.items()
                                          if getattr(config, k) == defaults[k]})


def config_from_json(cls: type, values: Any, option: str, source: str) -> Any:
    """``cls`` built from the ``config`` object of a ``config.json`` (lists become tuples).

    ``BadInput`` naming ``option`` if a key is unknown to ``cls`` (a run from another
    version): dropping it would silently run a different configuration.
    """
    if not isinstance(values, dict):
        raise BadInput(option, f"{source} holds no configuration object; give the folder "
                       "of a metalab run")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise BadInput(option, f"{source} has settings {unknown} that this version of "
                       f"{cls.__name__} does not know; use the metalab version that wrote it "
                       "or remove them from config.json")
    check_types(cls, values, source)
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except TypeError as e:  # a value of the wrong type reaching __post_init__
        raise BadInput(option, f"{source} has a value of the wrong type ({e}); fix or "
                       "remove it in config.json") from e
    except BadInput as e:
        raise BadInput(option, f"{source} holds an invalid setting ({e}); fix it there or "
                       "start a new run") from e
