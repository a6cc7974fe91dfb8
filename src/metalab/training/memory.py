"""Meta-training of memory-based meta-learners: a sequence model that learns in its forward
pass by reading the support set (Santoro et al. 2016; the LSTMs of Rabinowitz 2019), trained
by the one outer update on its query error after every support prefix."""

from __future__ import annotations

import jax
import optax

from metalab.models.base import Model
from metalab.models.lstm import prefix_loss
from metalab.tasks.base import TaskDistribution
from metalab.training.state import TrainState
from metalab.training.trainer import Step


def make_memory_step(model: Model, optimizer: optax.GradientTransformation, *,
                     tasks: TaskDistribution, meta_batch: int, queries: int,
                     key: jax.Array) -> Step:
    """One outer step of a memory-based meta-learner (a sequence model reading the support
    set, ``lstm_reader`` / ``lstm_plain``) on a fresh batch of ``meta_batch`` tasks: the query
    MSE after every support prefix (``prefix_loss``), on the first ``queries`` query points of
    each task; the batch of step s is drawn from ``fold_in(key, s)``."""

    def meta_step(state: TrainState):
        batch = tasks.sample(jax.random.fold_in(key, state.step), meta_batch)
        batch = batch._replace(query_x=batch.query_x[:, :queries],
                               query_y=batch.query_y[:, :queries])
        loss, grad = jax.value_and_grad(lambda p: prefix_loss(model, p, batch))(state.meta)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grad)}
        return state.apply_gradients(grad, optimizer), metrics

    return meta_step
