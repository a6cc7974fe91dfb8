"""The normative objective: discounted cumulative performance minus the cost of control.

Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) score a whole learning trajectory by

    V = sum_n gamma^(t_n) (P(t_n) - C(t_n)) dt,   t_n = n dt,

with performance P = -L (the mean loss over the tasks, from the covariances) and control cost
C = exp(beta ||u - u_neutral||^2) - 1 ("exp", as in the paper) or beta ||u - u_neutral||^2
("quadratic"). ``gamma`` is the discount per unit of time, so the value does not depend on
the step size beyond the integration error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

from metalab.effort.controls import Control, Weights, effort
from metalab.effort.dynamics import (
    Integrator,
    TaskCovariances,
    Trajectory,
    simulate,
    task_losses,
)

CostKind = Literal["exp", "quadratic"]


@dataclass(frozen=True)
class Setting:
    """Fixed settings of a learning trajectory and of its value."""

    steps: int = 200  # integration steps T
    dt: float = 0.05  # step size in units of time
    tau: float = 1.0  # time constant of learning
    decay: float = 0.0  # weight decay lambda
    method: Integrator = "euler"
    gamma: float = 0.9  # discount per unit of time, in (0, 1]
    beta: float = 0.1  # cost scale
    cost: CostKind = "exp"
    unroll: int = 1  # integration steps per scan iteration (speed only)


def cost(effort_sq: jax.Array, beta: float, kind: CostKind) -> jax.Array:
    """Cost of control at each step from the squared effort ||u - u_neutral||^2."""
    if kind == "exp":
        return jnp.expm1(beta * effort_sq)
    return beta * effort_sq


def discounted(rewards: jax.Array, dt: float, gamma: float) -> jax.Array:
    """sum_n gamma^(n dt) r_n dt: the discounted integral of a reward sampled every ``dt``."""
    times = jnp.arange(rewards.shape[0]) * dt
    return jnp.sum(gamma**times * rewards) * dt


def value_of(
    trajectory: Trajectory, control: Control, setting: Setting
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(V, performance [T], cost [T]) of a trajectory already run under ``control``."""
    performance = -trajectory.losses.mean(axis=1)
    c = cost(effort(control), setting.beta, setting.cost)
    return discounted(performance - c, setting.dt, setting.gamma), performance, c


def held_out_losses(test: TaskCovariances, trajectory: Trajectory, control: Control) -> jax.Array:
    """Loss [T, K] of each test task along a trajectory, under the control of each step."""
    return jax.vmap(task_losses, (None, 0, 0))(test, trajectory.weights, control)


def evaluate(
    control: Control, tasks: TaskCovariances, w0: Weights, setting: Setting,
    test: TaskCovariances | None = None,
) -> tuple[jax.Array, Trajectory]:
    """Run the controlled average dynamics and return (V, trajectory); differentiable.

    The network learns from ``tasks``; with ``test`` (the same tasks' population statistics,
    when ``tasks`` are those of a finite training set) performance is the test loss, the
    bilevel, hyper-parameter case, and the trajectory's ``losses`` are the test losses.
    """
    traj = simulate(
        tasks, w0, control, setting.steps, setting.dt,
        tau=setting.tau, decay=setting.decay, method=setting.method,
        unroll=setting.unroll,
    )
    if test is not None:
        traj = traj._replace(losses=held_out_losses(test, traj, control))
    return value_of(traj, control, setting)[0], traj
