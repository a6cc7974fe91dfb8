"""Train one stage of an experiment with checkpoints, resume and a progress bar."""

from __future__ import annotations

from collections.abc import Callable

from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.training.trainer import Metrics, TrainState, fit


def train_stage(
    rundir: RunDir,
    stage: str,
    init: TrainState,
    meta_step: Callable[[TrainState], tuple[TrainState, Metrics]],
    steps: int,
    *,
    chunk: int,
    checkpoint_every: int,
) -> TrainState:
    """Train ``stage`` to ``steps`` meta-steps, continuing from its checkpoint if it has one.

    Metric lines logged after the checkpoint (by an interrupted attempt) are dropped first,
    so the finished ``metrics.jsonl`` equals that of an uninterrupted run.
    """
    checkpointer = rundir.checkpointer(stage)
    info = checkpointer.info()
    state = init if info is None else checkpointer.restore(init)
    rundir.rewind(stage, 0 if info is None else info["step"])
    with progress_bar(stage, steps) as advance:
        advance(int(state.step))
        return fit(
            state,
            meta_step,
            steps,
            chunk=chunk,
            checkpointer=checkpointer,
            checkpoint_every=checkpoint_every,
            log=rundir.logger(stage),
            advance=advance,
        )
