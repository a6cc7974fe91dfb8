"""Validation along the way: every seed's best checkpoint, and early stopping on their mean.

    best = train_seeds_best(rundir, "maml", init, make_step, 5, seed=0, steps=5000, chunk=50,
                            checkpoint_every=500, every=250, patience=4,
                            validate=lambda metas: seed_scores(...).mean(axis=1))
    best.metas     # stacked [S, ...]: each seed's meta-parameters at its best validation score
    best.steps     # [S] the meta-step each seed's best came from
    best.stopped   # the meta-step training ended at (early or at ``steps``)

Every ``every`` meta-steps ``validate(metas)`` scores the stacked seeds ([S], higher is better,
e.g. accuracy on validation episodes); each seed keeps the meta-parameters of its best score so
far (a tie keeps the earlier). With ``patience``, training stops once the mean over seeds has
not improved for ``patience`` validations in a row (early stopping; Prechelt 1998, "Early
stopping - but when?"); the seeds share one program, so they stop together. The record is
checkpointed at every validation (``checkpoints/<stage>.best``), so ``--resume`` continues it
and a stage that stopped is not trained again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from matplotlib.figure import Figure

from metalab.errors import require
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_seeds
from metalab.training.cost import Cost
from metalab.training.distributed import to_host
from metalab.training.seeds import seed_keys, stack_states
from metalab.training.state import TrainState


class Best(NamedTuple):
    """What ``train_seeds_best`` returns (module docstring); ``history`` holds every
    validation as (meta-step, [S] scores)."""

    metas: Any
    scores: np.ndarray
    steps: np.ndarray
    history: list[tuple[int, list[float]]]
    stopped: int
    early: bool
    cost: Cost


def best_of(history: list[tuple[int, list[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the best score of ``history`` and the meta-step it came from (the earliest
    on ties)."""
    steps = np.array([s for s, _ in history])
    scores = np.array([v for _, v in history])  # [validations, S]
    first = np.argmax(scores, axis=0)  # argmax returns the first maximum
    return scores.max(axis=0), steps[first]


def waited(history: list[tuple[int, list[float]]]) -> int:
    """Validations since the mean over seeds last improved (0: the latest is the best)."""
    means = [float(np.mean(v)) for _, v in history]
    return len(means) - 1 - int(np.argmax(means))


class _Keeper:
    """``fit``'s ``on_chunk``: validates every ``every`` steps, keeps each seed's best
    meta-parameters and checkpoints the record; True once ``patience`` is exhausted."""

    def __init__(self, rundir: RunDir, stage: str, like: Any, every: int,
                 validate: Callable[[Any], np.ndarray], patience: int | None):
        self.checkpointer = rundir.checkpointer(f"{stage}.best")
        self.every, self.validate, self.patience = every, validate, patience
        info = self.checkpointer.info()
        self.history = [(int(s), [float(x) for x in v]) for s, v in
                        (info or {}).get("history", [])]
        self.stopped = (info or {}).get("stopped")
        self.metas = like if info is None else self.checkpointer.restore(like)

    def __call__(self, done: int, state: TrainState) -> bool:
        if done % self.every or (self.history and done <= self.history[-1][0]):
            return False  # not a validation step, or validated before an interruption
        scores = np.asarray(self.validate(state.meta), dtype=float)
        previous = best_of(self.history)[0] if self.history else np.full(len(scores), -np.inf)
        self.history.append((done, scores.tolist()))
        better = scores > previous
        self.metas = jax.tree.map(
            lambda new, old: np.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            to_host(state.meta), self.metas)
        stop = self.patience is not None and waited(self.history) >= self.patience
        self.save(done if stop else None)
        return stop

    def save(self, stopped: int | None) -> None:
        """Checkpoint the best meta-parameters and the history (and where training ended)."""
        self.stopped = stopped
        step = self.history[-1][0] if self.history else 0
        self.checkpointer.save(self.metas, step, history=self.history, stopped=stopped)


def train_seeds_best(rundir: RunDir, stage: str, init: Callable[..., TrainState],
                     make_step: Callable, seeds: int, *, seed: int, steps: int, chunk: int,
                     checkpoint_every: int, every: int, validate: Callable[[Any], np.ndarray],
                     patience: int | None = None) -> Best:
    """``runs.stage.train_seeds`` up to ``steps`` meta-steps, validating every ``every``
    (a multiple of ``chunk``) and keeping each seed's best (module docstring)."""
    require(every % chunk == 0, "--val-every", f"must be a multiple of the logging chunk "
            f"{chunk} (--log-every), got {every}")
    require(steps >= every, "--val-every", f"validates every {every} meta-steps, more than "
            f"the {steps} trained; lower it")
    like = to_host(stack_states(init, seed_keys(seed, seeds)[0]).meta)
    keeper = _Keeper(rundir, stage, like, every, validate, patience)
    cost = Cost(seeds)
    if keeper.stopped is None:
        cost = train_seeds(rundir, stage, init, make_step, seeds, seed=seed, steps=steps,
                           chunk=chunk, checkpoint_every=checkpoint_every, probe=False,
                           on_chunk=keeper).cost
    if keeper.stopped is None:  # ran to ``steps``: mark it finished
        keeper.save(steps)
    scores, best_steps = best_of(keeper.history)
    return Best(keeper.metas, scores, best_steps, keeper.history, int(keeper.stopped),
                int(keeper.stopped) < steps, cost)


def validation_curves(histories: dict[str, dict[str, list[tuple[int, list[float]]]]]
                      ) -> Figure:
    """The mean validation score over seeds versus meta-step: one panel per key of
    ``histories`` (a setting), one line per method (``Best.history``)."""
    fig, axes = subplots(1, len(histories), figsize=(4.5 * len(histories), 3.6),
                         squeeze=False)
    for ax, (title, methods) in zip(axes[0], histories.items(), strict=True):
        for method, history in methods.items():
            steps, scores = zip(*history, strict=True)
            ax.plot(steps, np.mean(scores, axis=1), marker=".", label=method)
        ax.set(xlabel="meta-step", ylabel="validation score (mean over seeds)", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
