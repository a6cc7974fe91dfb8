"""Myopic controllers of learning: a greedy hyper-gradient and truncated (receding) horizons.

Full-horizon control (``optimise.maximise`` on ``value.evaluate``) chooses the whole control
trajectory for the value V of all of learning (Carrasco-Davis, Masis and Saxe 2023, arXiv
2310.19919). Controllers in use look less far ahead; the two kinds here are

- ``greedy``: hypergradient descent (Baydin et al. 2018, "Online learning rate adaptation with
  hypergradient descent"): at every learning step one optimiser step on the control, from the
  control of the step before, up the value of the next step (the optimiser state carries over);
- ``receding``: a truncated horizon of H steps (Wu, Ren, Liao and Grosse 2018, "Understanding
  short-horizon bias in stochastic meta-optimization") as model-predictive control: every
  ``every`` steps the control of the next H + 1 steps is optimised for their value alone, and
  its first ``every`` steps are applied.

The value seen from step n, with the weights w_n reached so far, is the window value

    V_H(n) = sum_{m=0}^{H} gamma^(m dt) (P_{n+m} - C_{n+m}) dt

(P, C as in ``value``; steps past the end T count zero): H learning steps are looked through,
so H = 1 is the next step's value. With n + H >= T the window is the rest of the full problem,
and exponential discounting makes its optimum time-consistent (Bellman): the receding
controller with H >= T reproduces the full-horizon optimum. All functions are pure and
jit-able (and vmap over initial controls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.effort.controls import Control, Weights, effort
from metalab.effort.dynamics import TaskCovariances, simulate
from metalab.effort.optimise import maximise
from metalab.effort.value import Setting, cost, discounted, held_out_losses
from metalab.errors import require


def window_value(plan: Control, w: Weights, start: jax.Array, tasks: TaskCovariances,
                 setting: Setting, test: TaskCovariances | None = None) -> jax.Array:
    """V_H(start) of ``plan`` (H + 1 steps) from weights ``w``; steps at or past
    ``setting.steps`` count zero. ``test`` as in ``value.evaluate`` (bilevel)."""
    steps = jax.tree.leaves(plan)[0].shape[0]
    traj = simulate(tasks, w, plan, steps, setting.dt, tau=setting.tau, decay=setting.decay,
                    method=setting.method, unroll=min(setting.unroll, steps))
    losses = traj.losses if test is None else held_out_losses(test, traj, plan)
    reward = -losses.mean(axis=1) - cost(effort(plan), setting.beta, setting.cost)
    live = start + jnp.arange(steps) < setting.steps
    return discounted(jnp.where(live, reward, 0.0), setting.dt, setting.gamma)


def receding(control0: Control, tasks: TaskCovariances, w0: Weights, setting: Setting,
             horizon: int, optimizer: optax.GradientTransformation,
             project: Callable[[Control], Control], inner_steps: int, every: int = 1,
             test: TaskCovariances | None = None) -> Control:
    """The control [T] applied by a receding-horizon controller that looks ``horizon`` steps
    ahead, re-planning every ``every`` steps with ``inner_steps`` steps of projected ascent.

    Each plan starts from the current guess, ``control0`` at first and the last plan where
    one covers the window (warm start)."""
    require(horizon >= 1, "horizon", f"must be at least 1 step; got {horizon}")
    require(1 <= every <= horizon + 1, "every", f"must be in [1, horizon + 1]; got {every}")
    size, total = horizon + 1, setting.steps
    replans = -(-total // every)
    pad = replans * every + size - total
    guess = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, 0)]), control0)

    def replan(carry: tuple[Weights, Control], r: jax.Array):
        w, guess = carry
        n = r * every
        window = _slice(guess, n, size)
        plan, _ = maximise(lambda p: (window_value(p, w, n, tasks, setting, test), None),
                           window, optimizer, project, inner_steps)
        guess = jax.tree.map(lambda g, p: jax.lax.dynamic_update_slice_in_dim(g, p, n, 0),
                             guess, plan)
        return (_advance(w, _slice(plan, 0, every), tasks, setting), guess), None

    (_, guess), _ = jax.lax.scan(replan, (w0, guess), jnp.arange(replans))
    return _slice(guess, 0, total)


def greedy(control0: Control, tasks: TaskCovariances, w0: Weights, setting: Setting,
           optimizer: optax.GradientTransformation, project: Callable[[Control], Control],
           test: TaskCovariances | None = None) -> Control:
    """The control [T] of hypergradient descent: u_n = project(u_{n-1} + optimizer step on
    dV_1/du at u_{n-1}), u held over the one-step window; u_{-1} = ``control0``'s first step."""

    def step(carry: tuple[Weights, Control, Any], n: jax.Array):
        w, u, opt_state = carry
        grad = jax.grad(lambda v: window_value(_hold(v, 2), w, n, tasks, setting, test))(u)
        updates, opt_state = optimizer.update(jax.tree.map(jnp.negative, grad), opt_state, u)
        u = jax.tree.map(lambda x: x[0], project(_hold(optax.apply_updates(u, updates), 1)))
        return (_advance(w, _hold(u, 1), tasks, setting), u, opt_state), u

    u0 = jax.tree.map(lambda x: x[0], control0)
    _, us = jax.lax.scan(step, (w0, u0, optimizer.init(u0)), jnp.arange(setting.steps))
    return us


def _slice(control: Control, start: jax.Array | int, size: int) -> Control:
    return jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, size, 0), control)


def _hold(u: Control, steps: int) -> Control:
    """One step's control held for ``steps`` steps (a leading time axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (steps, *x.shape)), u)


def _advance(w: Weights, control: Control, tasks: TaskCovariances, setting: Setting) -> Weights:
    """The weights after the steps of ``control`` (learning only; nothing scored)."""
    steps = jax.tree.leaves(control)[0].shape[0]
    return simulate(tasks, w, control, steps, setting.dt, tau=setting.tau, decay=setting.decay,
                    method=setting.method, unroll=min(setting.unroll, steps)).final
