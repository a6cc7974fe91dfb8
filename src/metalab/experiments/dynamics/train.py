"""Meta-training of the learning-dynamics meta-learners, with snapshots along the way.

MAML and Meta-SGD are meta-trained by backprop through the inner loop; the LSTMs (the reader
with a multiplicative read-out and the plain LSTM) by Adam on the query error after every
prefix of the support sequence. Each keeps its parameters at several meta-steps, so the
analysis can follow how the learned learning dynamics change along meta-training.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from metalab.estimators import ESTIMATORS
from metalab.experiments.dynamics import setup
from metalab.models.lstm import prefix_loss
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.training import TrainState, init_state, make_meta_step

Snapshots = list[tuple[int, Any]]  # (meta-step, meta-parameters), in order


def snapshot_steps(total: int, count: int, unit: int) -> list[int]:
    """``count`` meta-steps spread evenly up to ``total`` (multiples of ``unit``, then
    ``total`` itself), where the meta-learner is kept for analysis."""
    points = {max(unit, round(total * (i + 1) / count / unit) * unit) for i in range(count - 1)}
    return sorted(p for p in points if p < total) + [total]


def train(name: str, cfg: Any, rundir: RunDir, key: jax.Array) -> tuple[Any, Snapshots]:
    """Meta-train ``name`` (maml, metasgd, memory, lstm); (learner or model, snapshots)."""
    k_init, k_run = jax.random.split(key)
    if name in ("maml", "metasgd"):
        learner = setup.meta_learner(name, cfg)
        optimizer = meta_optimizer(name, cfg)
        step = make_meta_step(learner, ESTIMATORS["backprop"](), optimizer=optimizer,
                              tasks=setup.distribution(cfg),
                              meta_batch=cfg.meta_batch,
                              inner_steps=cfg.inner_steps, key=k_run)
        init, total = init_state(learner, optimizer, k_init), cfg.meta_steps
        return learner, with_snapshots(rundir, name, init, step, total, cfg)
    model = setup.memory_model(cfg, plain=name == "lstm")
    lr = cfg.lstm_lr if name == "lstm" else cfg.memory_lr
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    params = model.init(k_init)
    init = TrainState.create(params, optimizer)
    queries = cfg.lstm_queries if name == "lstm" else cfg.k_support
    step = _memory_step(model, optimizer, cfg, queries, k_run)
    total = cfg.lstm_steps if name == "lstm" else cfg.memory_steps
    return model, with_snapshots(rundir, name, init, step, total, cfg)


def meta_optimizer(name: str, cfg: Any) -> optax.GradientTransformation:
    """Adam on the clipped meta-gradient (global norm 1); Meta-SGD's learned rates take
    their own, smaller step (``metasgd_rate_lr``), as they set the inner loop's stability."""
    if name == "maml":
        return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cfg.outer_lr))
    steps = {"init": optax.adam(cfg.metasgd_outer_lr), "lr": optax.adam(cfg.metasgd_rate_lr)}
    return optax.chain(optax.clip_by_global_norm(1.0), optax.multi_transform(
        steps, lambda meta: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in meta.items()}))


def _memory_step(model, optimizer, cfg: Any, queries: int, key: jax.Array):
    """One Adam step of an LSTM on a fresh batch of tasks (query MSE after every prefix, on
    the first ``queries`` query points of each task)."""
    dist = setup.distribution(cfg)

    def meta_step(state: TrainState):
        tasks = dist.sample(jax.random.fold_in(key, state.step), cfg.meta_batch)
        tasks = tasks._replace(query_x=tasks.query_x[:, :queries],
                               query_y=tasks.query_y[:, :queries])
        loss, grad = jax.value_and_grad(lambda p: prefix_loss(model, p, tasks))(state.meta)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grad)}
        return state.apply_gradients(grad, optimizer), metrics

    return meta_step


def with_snapshots(rundir: RunDir, name: str, init: TrainState, step, total: int,
                    cfg: Any) -> Snapshots:
    """Train stage ``name`` to each snapshot step in turn, keeping the meta-parameters there
    in their own checkpoint (so a resumed run analyses the same snapshots). A snapshot the
    stage has already trained past without keeping (a resumed run with other settings) is
    left out, never filled with a later state."""
    out = []
    for n in snapshot_steps(total, cfg.meta_snapshots, cfg.log_every):
        keep = rundir.checkpointer(f"{name}-at-{n}")
        if keep.info() is None:
            state = train_stage(rundir, name, init, step, n, chunk=cfg.log_every,
                                checkpoint_every=cfg.checkpoint_every)
            if int(state.step) != n:
                continue
            keep.save(state.meta, n)
        else:  # not retrained: keep (confirm) the stage's logged lines up to the snapshot
            rundir.rewind(name, n)
        out.append((n, keep.restore(init.meta)))
    return out
