"""A finished run folder back in Python: its settings, learners and trained meta-parameters.

    run = metalab.load_run("runs/sinusoid")
    learner, meta = run.trained("maml")
    phi = adapt(learner, meta, task, steps=10)  # metalab.evaluation.adapt

The configuration is rebuilt from ``config.json``; the learners from it by the experiment's
``learners(config)`` hook (``runs.experiment``); the meta-parameters from each stage's
``checkpoints/<stage>/state.ckpt``. A checkpoint holds the whole ``TrainState``, whose leaves
are flattened meta-parameters first, so the meta-parameters are read as the leading leaves,
without rebuilding the outer optimiser whose state follows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from metalab.errors import BadInput
from metalab.experiments import EXPERIMENTS, load_plugins
from metalab.learners.base import Learner, Meta
from metalab.runs.claim import MARKER
from metalab.runs.experiment import config_from_json
from metalab.training.checkpoint import Checkpointer


@dataclass(frozen=True)
class LoadedRun:
    """A finished run: its folder, experiment name, resolved configuration, and per stage
    the learner and trained meta-parameters."""

    path: Path
    experiment: str
    config: Any
    learners: dict[str, Learner]
    meta: dict[str, Meta]

    def trained(self, stage: str | None = None) -> tuple[Learner, Meta]:
        """``(learner, meta)`` of ``stage``, which may be left out when the run has one."""
        if stage is None and len(self.learners) == 1:
            stage = next(iter(self.learners))
        if stage not in self.learners:
            raise BadInput("stage", f"choose one of this run's stages: "
                           f"{', '.join(self.learners)}")
        return self.learners[stage], self.meta[stage]


def load_run(path: Path | str) -> LoadedRun:
    """The finished run in ``path`` (a folder written by ``metalab run``).

    ``BadInput`` if the folder holds no run, an unfinished one (``INCOMPLETE``), a run of an
    experiment that cannot rebuild its learners (no ``learners`` hook), or a stage without
    its checkpoint.
    """
    path = Path(path)
    option = str(path)
    if not (path / "config.json").is_file():
        raise BadInput(option, "holds no metalab run (no config.json); give the --out folder "
                       "of a run")
    if (path / MARKER).exists():
        raise BadInput(option, f"holds an unfinished run; finish it with `metalab run ... "
                       f"--resume {path}` before loading it")
    saved = json.loads((path / "config.json").read_text())
    name = saved.get("experiment")
    load_plugins()
    if name not in EXPERIMENTS:
        raise BadInput(option, f"was written by experiment {name!r}, which is not registered "
                       "here; install or register it first")
    experiment = EXPERIMENTS[name]
    if experiment.learners is None:
        raise BadInput(option, f"experiment {name!r} cannot rebuild its learners (its "
                       "Experiment record has no `learners` hook); load its checkpoints with "
                       "metalab.training.Checkpointer instead")
    config = config_from_json(experiment.config, saved.get("config"), option,
                              str(path / "config.json"))
    learners = experiment.learners(config)
    meta = {stage: _trained_meta(path, stage, learner) for stage, learner in learners.items()}
    return LoadedRun(path, name, config, learners, meta)


def _trained_meta(path: Path, stage: str, learner: Learner) -> Meta:
    """The meta-parameters of ``stage``'s checkpoint: the leading leaves of its TrainState."""
    checkpointer = Checkpointer(path / "checkpoints" / stage)
    if checkpointer.info() is None:
        raise BadInput(str(path), f"has no checkpoint for stage {stage!r} (expected "
                       f"{checkpointer.path}); was it trained in this folder?")
    return checkpointer.restore(learner.init(jax.random.PRNGKey(0)))
