"""Meta-training of the learning-dynamics meta-learners, with snapshots along the way.

MAML and Meta-SGD are meta-trained by backprop through the inner loop; the LSTMs (the reader
with a multiplicative read-out and the plain LSTM) by Adam on the query error after every
prefix of the support sequence, the plain LSTM's step decaying by a cosine (Loshchilov &
Hutter 2017) to ``lstm_decay`` of its start. Each keeps its parameters at several meta-steps,
so the analysis can follow how the learned learning dynamics change along meta-training.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from metalab.estimators import ESTIMATORS
from metalab.runs.rundir import RunDir
from metalab.runs.snapshots import Snapshots, train_snapshots
from metalab.training import TrainState, init_state, make_meta_step
from metalab.training.memory import make_memory_step


def train(name: str, cfg: Any, rundir: RunDir, key: jax.Array) -> tuple[Any, Snapshots]:
    """Meta-train ``name`` (maml, metasgd, memory, lstm); (learner or model, snapshots)."""
    k_init, k_run = jax.random.split(key)
    if name in ("maml", "metasgd"):
        trained = cfg.meta_learner(name, cfg.inner_lr)
        optimizer = meta_optimizer(name, cfg)
        step = make_meta_step(trained, ESTIMATORS["backprop"](), optimizer=optimizer,
                              tasks=cfg.distribution(), meta_batch=cfg.meta_batch,
                              inner_steps=cfg.inner_steps, key=k_run)
        init, total = init_state(trained, optimizer, k_init), cfg.meta_steps
    else:
        trained = cfg.memory_model(cfg.memory_hidden, plain=name == "lstm")
        total = cfg.lstm_steps if name == "lstm" else cfg.memory_steps
        lr = (optax.cosine_decay_schedule(cfg.lstm_lr, total, alpha=cfg.lstm_decay)
              if name == "lstm" else cfg.memory_lr)
        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
        init = TrainState.create(trained.init(k_init), optimizer)
        queries = cfg.lstm_queries if name == "lstm" else cfg.k_support
        step = make_memory_step(trained, optimizer, tasks=cfg.distribution(),
                                meta_batch=cfg.meta_batch, queries=queries, key=k_run)
    return trained, train_snapshots(rundir, name, init, step, total, count=cfg.meta_snapshots,
                                    chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every)


def meta_optimizer(name: str, cfg: Any) -> optax.GradientTransformation:
    """Adam on the clipped meta-gradient (global norm 1); Meta-SGD's learned rates take
    their own, smaller step (``metasgd_rate_lr``), as they set the inner loop's stability."""
    if name == "maml":
        return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cfg.outer_lr))
    steps = {"init": optax.adam(cfg.metasgd_outer_lr), "lr": optax.adam(cfg.metasgd_rate_lr)}
    return optax.chain(optax.clip_by_global_norm(1.0), optax.multi_transform(
        steps, lambda meta: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in meta.items()}))
