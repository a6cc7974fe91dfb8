"""Several seeds as one compiled program: a leading seed axis on the train state.

Each seed has its own initialisation key and its own run key (task stream, estimator noise);
the meta-step of one seed is built from its run key and ``jax.vmap``-ed over the seed axis,
so S seeds compile once and run as one batched program instead of S programs one after the
other. The step counter is shared (every seed is at the same meta-step), so ``fit``,
checkpoints and ``--resume`` work unchanged; metrics come back per seed ([S] per meta-step)
and ``fit`` checks each seed for divergence. The seed axis is split across devices when there
are several (``shard_seeds``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.estimators.base import Estimator
from metalab.learners.base import Learner
from metalab.tasks.base import TaskDistribution
from metalab.training.sharding import shard_seeds
from metalab.training.trainer import (
    MetaStep,
    Metrics,
    Step,
    TrainState,
    init_state,
    make_meta_step,
)


def seed_keys(seed: int, seeds: int) -> tuple[jax.Array, jax.Array]:
    """(initialisation keys, run keys), one per seed, each [seeds, 2], from one base seed."""
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.split(k_init, seeds), jax.random.split(k_run, seeds)


def stack_states(init: Callable[..., TrainState], keys: jax.Array, *per_seed: Any
                 ) -> TrainState:
    """``init(key, *args)`` for every key (and slice of each ``per_seed`` pytree), stacked
    on a leading seed axis; one shared step counter."""
    state = jax.vmap(init)(keys, *per_seed)
    return shard_seeds(state._replace(step=jnp.zeros((), jnp.int32)))


def initial_metas(learner: Learner, optimizer: optax.GradientTransformation, seed: int,
                  seeds: int) -> Any:
    """The seeds' meta-parameters before any training, stacked: where ``meta_training`` (and
    ``runs.stage.train_seeds``) starts them for the same ``seed``; e.g. an untrained floor."""
    init = lambda key: init_state(learner, optimizer, key)  # noqa: E731
    return stack_states(init, seed_keys(seed, seeds)[0]).meta


def vmap_seeds(make_step: Callable[..., Step], run_keys: jax.Array, *per_seed: Any) -> Step:
    """One meta-step of every seed: ``make_step(run_key, *args)`` (e.g. ``make_meta_step``
    with that seed's run key) vmapped over the seed axis of the state, of ``run_keys`` and of
    each pytree in ``per_seed`` (e.g. a learning rate per member of a vmapped sweep). When
    ``make_step`` builds a ``MetaStep`` the result is one too (every seed's inputs drawn
    together), so ``scan_steps`` draws a chunk's inputs ahead."""

    def batched(state: TrainState, inputs: Any) -> tuple[TrainState, Metrics]:
        """Every seed's step; ``inputs`` are the seeds' drawn inputs [S, ...], or None for
        steps that draw their own."""

        def one(meta, opt_state, drawn, key, *args):
            step, own = make_step(key, *args), TrainState(meta, opt_state, state.step)
            new, metrics = step(own) if drawn is None else step.update(own, drawn)
            return new.meta, new.opt_state, metrics

        meta, opt_state, metrics = jax.vmap(one)(state.meta, state.opt_state, inputs,
                                                 run_keys, *per_seed)
        return shard_seeds(TrainState(meta, opt_state, state.step + 1)), metrics

    first = make_step(run_keys[0], *jax.tree.map(lambda x: x[0], per_seed))
    if not isinstance(first, MetaStep):
        return lambda state: batched(state, None)

    def draw(step: jax.Array) -> Any:
        return jax.vmap(lambda key, *args: make_step(key, *args).draw(step))(run_keys,
                                                                           *per_seed)

    return MetaStep(draw, batched)


def per_point_losses(step: Step, points: int, seeds: int) -> Step:
    """A step vmapped over ``points`` x ``seeds`` members (point-major) also reporting
    ``loss/p<k>``, point k's loss as the mean over seeds, or with one point each seed's
    ``loss/seed<i>`` (what ``runs.seeds`` reads); a ``MetaStep`` stays one, so its inputs
    are still drawn ahead."""

    def add(out: tuple[TrainState, Metrics]) -> tuple[TrainState, Metrics]:
        state, metrics = out
        loss = metrics["loss"]
        if points == 1:
            return state, {**metrics, **{f"loss/seed{i}": loss[i] for i in range(seeds)}}
        per_point = loss.reshape(points, seeds).mean(axis=1)
        return state, {**metrics, **{f"loss/p{k}": per_point[k] for k in range(points)}}

    if isinstance(step, MetaStep):
        update = step.update
        return MetaStep(step.draw, lambda state, inputs: add(update(state, inputs)))
    return lambda state: add(step(state))


def unstack(state: TrainState, seed: int) -> TrainState:
    """Seed ``seed``'s own train state out of a stacked one."""
    return TrainState(*(jax.tree.map(lambda x: x[seed], part) for part in state[:2]),
                      state.step)


def meta_training(learner: Learner, estimator: Estimator, *,
                  optimizer: optax.GradientTransformation, tasks: TaskDistribution,
                  meta_batch: int, inner_steps: int
                  ) -> tuple[Callable[..., TrainState], Callable[..., Step]]:
    """(``init(key)``, ``make_step(run_key)``) of plain meta-training for one seed, the pair
    ``stack_states`` / ``vmap_seeds`` (and ``runs.stage.train_seeds``) vmap over seeds."""

    def make_step(key: jax.Array) -> Step:
        return make_meta_step(learner, estimator, optimizer=optimizer, tasks=tasks,
                              meta_batch=meta_batch, inner_steps=inner_steps, key=key)

    return (lambda key: init_state(learner, optimizer, key)), make_step
