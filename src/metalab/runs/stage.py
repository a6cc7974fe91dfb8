"""Train one stage of an experiment with checkpoints, resume and a progress bar."""

from __future__ import annotations

from collections.abc import Callable

from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.training.trainer import Metrics, TrainState, fit, scan_steps


def train_stage(
    rundir: RunDir,
    stage: str,
    init: TrainState,
    meta_step: Callable[[TrainState], tuple[TrainState, Metrics]],
    steps: int,
    *,
    chunk: int,
    checkpoint_every: int,
    max_loss: float | None = None,
    program: Callable[[Callable, int], Callable] = scan_steps,
) -> TrainState:
    """Train ``stage`` to ``steps`` meta-steps, continuing from its checkpoint if it has one.

    Metrics are rewound to the step the restored state holds (lines an interrupted attempt
    logged after it are dropped or replayed), so the finished ``metrics.jsonl`` equals that
    of an uninterrupted run. ``max_loss`` (default: the run's ``--max-loss``) bounds the
    loss; see ``fit`` for the divergence checks.
    """
    checkpointer = rundir.checkpointer(stage)
    state = init if checkpointer.info() is None else checkpointer.restore(init)
    rundir.rewind(stage, int(state.step))
    logger = rundir.logger(stage)
    latest: dict[str, float] = {}  # the last metrics line, shown with the progress

    def log(step: int, metrics: dict[str, float]) -> None:
        logger(step, metrics)
        latest.update(metrics)

    with progress_bar(stage, steps, done=int(state.step)) as advance:
        return fit(
            state,
            meta_step,
            steps,
            chunk=chunk,
            checkpointer=checkpointer,
            checkpoint_every=checkpoint_every,
            log=log,
            advance=lambda n: advance(n, latest),
            max_loss=rundir.max_loss if max_loss is None else max_loss,
            program=program,
        )
