"""Meta-training an online learner on streams, by antithetic evolution strategies or by
backprop through the whole stream (Kirsch & Schmidhuber 2021, section 3 and appendix).

The meta-loss of meta-parameters theta is the cumulative online cross-entropy of ``episodes``
streams drawn from a family, each with a fresh projection and labelling. A meta-step is
``(TrainState) -> (TrainState, metrics)`` as ``metalab.runs.train_stage`` expects, and runs
``seeds`` independent meta-trainings side by side (every leaf of ``TrainState.meta`` and of
the optimiser state has a leading seed axis; ``training.seed_keys``, ``stack_states`` and
``vmap_seeds``), so a claim over seeds is one compiled program.

- ``es``: g = mean_k eps_k (L(theta + sigma eps_k) - L(theta - sigma eps_k)) / (2 sigma), no
  rank shaping, Adam (paper: sigma 0.05, Adam 0.025). The population is split over all local
  devices (``population_map``). Each pair sees the same streams (common random numbers); the
  authors give each pair its own stream, which with their 1,024 pairs averages over far more
  streams per step than a small population can afford.
- ``grad``: the exact gradient through every step of the streams (not truncated), each step
  rematerialised in the backward pass, global-norm clipping (paper: 25) before Adam 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from metalab.estimators.evolution import antithetic_gradient
from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner, online_loss
from metalab.tasks.families import Family
from metalab.tasks.online import draw_stream, stream_classes
from metalab.training import TrainState, stack_states, vmap_seeds
from metalab.training.trainer import Step

MetaOptimizer = Literal["es", "grad"]
StreamLoss = Callable[[Meta, jax.Array], jax.Array]


def stream_loss(learner: OnlineLearner, family: Family, steps: int, n_classes: int, n_in: int,
                episodes: int, remat: bool = False) -> StreamLoss:
    """``loss(meta, key)``: mean online cross-entropy over ``episodes`` streams drawn from
    ``key`` (the same streams for every ``meta``, which ES's differences rely on)."""
    classes = stream_classes(family, n_classes)

    def loss(meta: Meta, key: jax.Array) -> jax.Array:
        def one(k: jax.Array) -> jax.Array:
            k_stream, k_start = jax.random.split(k)
            stream = draw_stream(family, k_stream, steps, classes, n_in)
            return online_loss(learner, meta, k_start, stream, classes, remat)

        return jax.vmap(one)(jax.random.split(key, episodes)).mean()

    return loss


def mixture_loss(losses: list[StreamLoss]) -> StreamLoss:
    """``loss(meta, key)``: the mean of several stream losses (one per family, each on its own
    streams from ``key``), for meta-training one rule on many families at once."""

    def loss(meta: Meta, key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, len(losses))
        return jnp.mean(jnp.stack([f(meta, k) for f, k in zip(losses, keys, strict=True)]))

    return loss


def population_map(chunk: int = 64) -> Callable[[Callable, jax.Array], jax.Array]:
    """A ``fitness_map`` for ``antithetic_gradient``: the perturbations are split evenly over
    all local devices (a one-axis ``Mesh``; nothing moves with one device), and each device
    evaluates its share ``chunk`` at a time (``lax.map``), which keeps a chunk's per-weight
    states in cache instead of streaming the whole population's through memory."""

    def fitness_map(fn: Callable, directions: jax.Array) -> jax.Array:
        devices = jax.devices()
        n = len(devices) if directions.shape[0] % len(devices) == 0 else 1
        split = directions.reshape(n, -1, directions.shape[-1])
        if n > 1:
            mesh = Mesh(np.array(devices), ("population",))
            split = jax.lax.with_sharding_constraint(
                split, NamedSharding(mesh, PartitionSpec("population")))
        size = min(chunk, split.shape[1])
        losses = jax.vmap(lambda d: jax.lax.map(fn, d, batch_size=size))(split)
        return losses.reshape(-1)

    return fitness_map


def chunk_for(weights: int, budget: int | None = None) -> int:
    """Evaluations per ``population_map`` chunk for a network of ``weights`` sub-LSTMs: enough
    to fill ``budget`` weights. On CPU 16,384 (about 2 MB of per-weight state, so a chunk
    stays in cache; on 2 CPU cores a 784x10 layer ran ~2.6x faster one evaluation at a time
    than 64 at once), at most 64; on an accelerator 2**22 (about 0.5 GB of state, wide enough
    to fill the device instead of running a 1,024-pair population two at a time; not
    measured), at most 1,024."""
    cpu = jax.default_backend() == "cpu"
    budget = budget or (16384 if cpu else 2**22)
    return max(1, min(64 if cpu else 1024, budget // weights))


def meta_optimizer(method: MetaOptimizer, lr: float | None = None, clip: float = 25.0
                   ) -> optax.GradientTransformation:
    """The paper's outer optimiser: Adam 0.025 for ES; clipping then Adam 1e-3 for gradients."""
    if method == "es":
        return optax.adam(0.025 if lr is None else lr)
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(1e-3 if lr is None else lr))


def init_train_state(learner: OnlineLearner, optimizer: optax.GradientTransformation,
                     keys: jax.Array) -> TrainState:
    """One train state per initialisation key (``training.seed_keys``), stacked on a leading
    seed axis by ``training.stack_states``."""
    return stack_states(lambda key: TrainState.create(learner.init(key), optimizer), keys)


def make_step(loss: StreamLoss, method: MetaOptimizer, optimizer: optax.GradientTransformation,
              run_keys: jax.Array, population: int = 32, sigma: float = 0.05,
              chunk: int = 64) -> Step:
    """One meta-step of every seed (``training.vmap_seeds`` over ``run_keys``, one per seed):
    streams and ES directions from ``fold_in(run_key, step)``, so a resumed run repeats an
    uninterrupted one."""

    def seed_step(run_key: jax.Array) -> Step:
        def step(state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
            k_streams, k_es = jax.random.split(jax.random.fold_in(run_key, state.step))
            if method == "es":
                grad, losses = antithetic_gradient(lambda m: loss(m, k_streams), state.meta,
                                                   k_es, population, sigma,
                                                   fitness_map=population_map(chunk))
                value, extra = losses.mean(), {"es_loss_spread": jnp.std(losses)}
            else:
                value, grad = jax.value_and_grad(loss)(state.meta, k_streams)
                extra = {}
            return state.apply_gradients(grad, optimizer), {
                "loss": value, "grad_norm": optax.tree.norm(grad), **extra}

        return step

    return vmap_seeds(seed_step, run_keys)
