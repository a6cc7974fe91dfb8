"""A learned initialisation as a control applied once, at t = 0: the loss curves it leads to
and the two meta-objectives it can be learned for, MAML's loss after K inner steps (Finn et
al. 2017) and the discounted value over the whole of learning (Carrasco-Davis, Masis and Saxe
2023, arXiv 2310.19919). The inner loop is the exact average gradient-descent dynamics (Euler
step dt = inner learning rate), so both objectives and their gradients are exact."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import TaskCovariances, simulate, task_losses
from metalab.effort.value import Setting, discounted


def loss_curves(w0: Weights, tasks: TaskCovariances, setting: Setting) -> jax.Array:
    """Loss of every task after 0..T Euler steps [n, T + 1] when learning from ``w0``; tasks
    stacked for vmap (every field with a leading [n] axis and K = 1)."""
    def one(task):
        traj = simulate(task, w0, Control(), setting.steps, setting.dt, unroll=setting.unroll)
        final = task_losses(task, traj.final, Control())
        return jnp.concatenate([traj.losses[:, 0], final])
    return jax.vmap(one)(tasks)


def init_objective(tasks: TaskCovariances, k: int | None,
                   setting: Setting) -> Callable[[Weights], tuple[jax.Array, None]]:
    """Objective of ``w0`` to maximise: minus the mean loss after ``k`` inner steps (MAML), or
    for ``k = None`` the mean discounted value over the horizon (no control cost)."""
    def f(w0: Weights) -> tuple[jax.Array, None]:
        if k is None:
            losses = loss_curves(w0, tasks, setting).mean(0)[:setting.steps]
            return discounted(-losses, setting.dt, setting.gamma), None

        def after_k(task):
            final = simulate(task, w0, Control(), k, setting.dt, unroll=setting.unroll).final
            return task_losses(task, final, Control())[0]

        return -jax.vmap(after_k)(tasks).mean(), None

    return f
