"""The 20 official 20-way one-shot Omniglot runs (Lake et al. 2015) with a trained model.

``metalab run omniglot-oneshot-runs --checkpoint RUN_DIR`` rebuilds the learner of an
``omniglot`` run from its ``config.json``, restores its final checkpoint, adapts on each run's
20 training images (one per class) and classifies the 20 test images. Reports the error per run
and the mean; people make 4.5% errors (Lake et al. 2015).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from metalab.errors import BadInput, require
from metalab.evaluation import evaluate
from metalab.experiments.fewshot.omniglot import (
    OmniglotConfig,
    eval_step_counts,
    initial_state,
    learner_of,
)
from metalab.runs.claim import MARKER
from metalab.runs.experiment import Experiment, config_from_json
from metalab.runs.rundir import RunDir
from metalab.stats import mean_ci95
from metalab.tasks.base import Task
from metalab.tasks.fewshot import DEFAULT_DATA
from metalab.tasks.omniglot_runs import load_runs
from metalab.training.checkpoint import Checkpointer

HUMAN_ERROR = 0.045
WAYS = 20
OVERLAP = {
    "small": "The runs' evaluation alphabets are not in the small background sets it trained on.",
    "standard": "The runs' evaluation alphabets are the standard split's test alphabets, "
                "unseen in training.",
    "vinyals": "Caution: the Vinyals split mixes evaluation characters into meta-training, so "
               "some of the runs' characters may have been seen in training.",
}
"""What the training split means for the runs (drawn from the evaluation alphabets)."""


@dataclass(frozen=True)
class OneShotRunsConfig:
    """Settings of ``metalab run omniglot-oneshot-runs``."""

    checkpoint: str = ""
    """run folder of a finished `metalab run omniglot` (20-way, or any N for protonet)"""
    data: str = DEFAULT_DATA
    """folder holding all_runs.zip (or the zip itself); default as `metalab run omniglot`"""
    eval_inner_steps: int = -1
    """inner steps on each run's support set (-1: the trained run's --eval-inner-steps)"""
    seed: int = 0
    quick: bool = False
    """no effect: the evaluation is already small"""

    def __post_init__(self) -> None:
        require(bool(self.checkpoint), "--checkpoint", "give the folder of an omniglot run")
        require(self.eval_inner_steps >= -1, "--eval-inner-steps", "must be -1 or >= 0")

    def resolved(self) -> OneShotRunsConfig:
        """Nothing to shrink."""
        return self


def trained_config(folder: Path) -> OmniglotConfig:
    """The ``OmniglotConfig`` of a finished omniglot run, checked before any compute."""
    path = folder / "config.json"
    if not path.is_file():
        raise BadInput("--checkpoint", f"{path} not found; give the folder of an omniglot run")
    payload = json.loads(path.read_text())
    if payload.get("experiment") != "omniglot":
        raise BadInput("--checkpoint", f"{folder} is a {payload.get('experiment')!r} run, "
                       "not an 'omniglot' run")
    cfg = config_from_json(OmniglotConfig, payload.get("config"), "--checkpoint", str(path))
    if cfg.dataset != "omniglot":
        raise BadInput("--checkpoint", f"{folder} was trained on {cfg.dataset}, not omniglot")
    if learner_of(cfg).adapt is None and cfg.n_way != WAYS:
        raise BadInput("--checkpoint", f"{folder} has a {cfg.n_way}-way {cfg.learner} head; "
                       f"the official runs are {WAYS}-way (train with --n-way {WAYS})")
    return cfg


def load_inputs(cfg: OneShotRunsConfig):
    """(trained config, its checkpointer, the official runs), ``BadInput`` if any is
    missing or unreadable (also the experiment's ``check``, run before any write)."""
    folder = Path(cfg.checkpoint)
    trained = trained_config(folder)
    checkpointer = Checkpointer(folder / "checkpoints" / trained.learner)
    if checkpointer.info() is None:
        raise BadInput("--checkpoint", f"{folder} holds no {trained.learner} checkpoint; "
                       "give the folder of a finished omniglot run")
    if (folder / MARKER).exists():
        raise BadInput("--checkpoint", f"{folder} is an unfinished run; finish it with "
                       f"metalab run omniglot --resume {folder}")
    return trained, checkpointer, load_runs(cfg.data, option="--data")


def run(cfg: OneShotRunsConfig, rundir: RunDir) -> dict[str, float]:
    """Error on each of the official runs and their mean."""
    folder = Path(cfg.checkpoint)
    trained, checkpointer, runs = load_inputs(cfg)
    state = checkpointer.restore(initial_state(trained))
    steps = trained.eval_inner_steps if cfg.eval_inner_steps < 0 else cfg.eval_inner_steps
    counts = eval_step_counts(replace(trained, eval_inner_steps=steps))
    labels = jnp.asarray(np.broadcast_to(np.arange(WAYS, dtype=np.int32), runs.labels.shape))
    tasks = Task(jnp.asarray(runs.support, jnp.float32) / 255.0, labels,
                 jnp.asarray(runs.query, jnp.float32) / 255.0, jnp.asarray(runs.labels))
    learner = learner_of(trained)
    errors = {k: 1.0 - evaluate(learner, state.meta, tasks, steps=k, chunk=len(runs.labels)
                                ).per_task for k in counts}
    summary = {f"run{i + 1:02d}/error": float(e) for i, e in enumerate(errors[steps])}
    for k in counts:
        mean = float(errors[k].mean())
        _, ci = mean_ci95(errors[k])
        if k == steps:
            summary.update({"mean/error": mean, "mean/ci95": ci})
        if learner.adapt is None:
            summary.update({f"mean/error_{k}_steps": mean, f"mean/ci95_{k}_steps": ci})
    summary["human/error"] = HUMAN_ERROR
    rundir.write_summary("omniglot-oneshot-runs", summary, split=trained.split)
    what = (
        f"The {len(errors[steps])} official 20-way one-shot runs of Lake et al. (2015), "
        f"classified by the `{trained.learner}` model of `{folder}` ({trained.n_way}-way "
        f"{trained.k_shot}-shot training on split `{trained.split}`, {trained.steps} "
        f"meta-steps) with {steps} inner step(s) on each run's 20 training images (also with "
        f"each count in {counts}). Error = fraction of the 20 test images misclassified; "
        f"people: {HUMAN_ERROR:.1%}. {OVERLAP[trained.split]}"
    )
    rundir.write_report("Official one-shot runs", what, summary)
    return summary


EXPERIMENT = Experiment(
    name="omniglot-oneshot-runs",
    description="error of a trained omniglot model on the 20 official one-shot runs",
    expected_time="1 min",
    quick_time="1 min",  # --quick changes nothing: the 20 runs are the whole evaluation
    config=OneShotRunsConfig,
    run=run,
    check=load_inputs,
)
