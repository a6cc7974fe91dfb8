"""Train one stage of an experiment with checkpoints, resume and a progress bar; and the one
train-over-seeds entry point, ``train_seeds``, which every experiment that takes ``--seeds``
of its own uses (``Experiment.seeding``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from metalab.errors import Diverged
from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.training.cost import Cost, measured
from metalab.training.seeds import seed_keys, stack_states, vmap_seeds
from metalab.training.trainer import Metrics, Step, TrainState, fit, scan_steps


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
    on_chunk: Callable[[int, TrainState], bool] | None = None,
) -> TrainState:
    """Train ``stage`` to ``steps`` meta-steps, continuing from its checkpoint if it has one.

    Metrics are rewound to the step the restored state holds (lines an interrupted attempt
    logged after it are dropped or replayed), so the finished ``metrics.jsonl`` equals that
    of an uninterrupted run. ``max_loss`` (default: the run's ``--max-loss``) bounds the
    loss; see ``fit`` for the divergence checks and ``on_chunk`` (validation, early stop).
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
            on_chunk=on_chunk,
        )


class Trained(NamedTuple):
    """What ``train_seeds`` returns: the stacked state ([S, ...] leaves; None if training
    diverged and that was tolerated), a sentence saying where it diverged ("" if not), and
    the training program's cost, all seeds together."""

    state: TrainState | None
    failure: str
    cost: Cost


def train_seeds(rundir: RunDir, stage: str, init: Callable[..., TrainState],
                make_step: Callable[..., Step], seeds: int, *, seed: int, steps: int,
                chunk: int, checkpoint_every: int, per_seed: tuple[Any, ...] = (),
                tolerate_divergence: bool = False, probe: bool = True,
                on_chunk: Callable[[int, TrainState], bool] | None = None) -> Trained:
    """Train ``seeds`` seeds as one compiled program in one stage, resuming its checkpoint.

    ``init(key, *args)`` builds one seed's state and ``make_step(run_key, *args)`` its step
    (e.g. ``make_meta_step(..., key=run_key)``); both are vmapped over the seed axis
    (``training.seeds``), with keys from ``seed_keys(seed, seeds)`` and ``args`` the slices
    of each ``per_seed`` pytree (leading axis ``seeds``: e.g. a swept traced value per
    member). The cost (compile seconds, run seconds, XLA temporary memory) is read off the
    training program itself; where the stage was restored already finished, ``probe`` runs
    one meta-step to measure it. A divergence raises ``Diverged`` unless
    ``tolerate_divergence``, when it comes back as ``failure`` with no state. ``on_chunk``
    goes to ``fit`` (it sees the stacked state: e.g. ``runs.validation``).
    """
    init_keys, run_keys = seed_keys(seed, seeds)
    step = vmap_seeds(make_step, run_keys, *per_seed)
    cost = Cost(seeds)
    try:
        state = train_stage(rundir, stage, stack_states(init, init_keys, *per_seed), step,
                            steps, chunk=chunk, checkpoint_every=checkpoint_every,
                            program=measured(cost), on_chunk=on_chunk)
    except Diverged as err:
        if not tolerate_divergence:
            raise
        return Trained(None, f"diverged: {err.what} at meta-step {err.step}", cost)
    if probe and cost.steps == 0:
        measured(cost)(step, 1)(state)
    return Trained(state, "", cost)
