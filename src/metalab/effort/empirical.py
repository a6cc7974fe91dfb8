"""Simulated (not averaged) gradient descent on sampled data, under the same controls.

A second implementation of learning under control, used two ways: with a linear network and
fresh Gaussian samples each step it is stochastic gradient descent, whose mean over runs the
average dynamics of ``dynamics.simulate`` must match; with a nonlinear hidden layer it tests
how far the linear theory of Carrasco-Davis, Masis and Saxe 2023 carries over ("beyond
linear"). Gradients come from ``jax.grad`` of the sampled loss, not from the covariance
formulas, and the whole run is a ``lax.scan``, differentiable with respect to the control.
Every signal applies as in the average dynamics: with several tasks (batches with a leading
task axis [K, B, ...]) the training loss is the engagement-weighted mean of the task losses,
and task k's gates multiply the hidden units (after the nonlinearity) in its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import optax

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import Trajectory, effective
from metalab.learners.online_gradient import gradient_step

Activation = Literal["linear", "tanh", "relu"]
Batch = Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # step -> (x [B, d_in], y [B, d_out])

_ACT = {"linear": lambda h: h, "tanh": jnp.tanh, "relu": jax.nn.relu}


def predict(w: Weights, x: jax.Array, activation: Activation) -> jax.Array:
    """Network output y = W2 act(W1 x) for a batch x [B, d_in]."""
    return _ACT[activation](x @ w.w1.T) @ w.w2.T


def sample_loss(w: Weights, x: jax.Array, y: jax.Array, activation: Activation) -> jax.Array:
    """Mean over the batch of ||y - y_hat||^2 / 2 (the sampled version of the average loss)."""
    return 0.5 * jnp.mean(jnp.sum((y - predict(w, x, activation)) ** 2, axis=1))


def task_sample_losses(w: Weights, x: jax.Array, y: jax.Array, gates: jax.Array,
                       activation: Activation) -> jax.Array:
    """Each task's sampled loss [K] for x [K, B, d_in], y [K, B, d_out] under its gates
    [K, hidden]: y_hat = W2 diag(gate_k) act(W1 x)."""
    hidden = _ACT[activation](jnp.einsum("kbi,hi->kbh", x, w.w1)) * gates[:, None, :]
    pred = jnp.einsum("kbh,oh->kbo", hidden, w.w2)
    return 0.5 * jnp.mean(jnp.sum((y - pred) ** 2, axis=2), axis=1)


def training_loss(w: Weights, u: Control, x: jax.Array, y: jax.Array, gates: jax.Array,
                  weight: jax.Array, decay: jax.Array | float,
                  activation: Activation) -> jax.Array:
    """The loss gradient descent follows: sum_k psi_k L_k(W~) / K + decay ||W||^2 / 2, with
    W~ = W * (1 + g) (so its gradient on W carries the factor 1 + g) and the penalty on W."""
    data = jnp.mean(weight * task_sample_losses(effective(w, u), x, y, gates, activation))
    return data + 0.5 * decay * (jnp.sum(w.w1**2) + jnp.sum(w.w2**2))


def gaussian_batches(
    key: jax.Array, teacher: jax.Array, noise_std: float, batch: int
) -> Batch:
    """Fresh samples x ~ N(0, I), y = W* x + noise at every step (online SGD data)."""

    def sample(step: jax.Array) -> tuple[jax.Array, jax.Array]:
        kx, kn = jax.random.split(jax.random.fold_in(key, step))
        x = jax.random.normal(kx, (batch, teacher.shape[1]))
        noise = noise_std * jax.random.normal(kn, (batch, teacher.shape[0]))
        return x, x @ teacher.T + noise

    return sample


def fixed_batch(x: jax.Array, y: jax.Array) -> Batch:
    """The same data at every step (full-batch gradient descent on a sampled data set)."""
    return lambda step: (x, y)


def simulate_sampled(
    w0: Weights,
    control: Control,
    batches: Batch,
    evaluation: tuple[jax.Array, jax.Array],
    steps: int,
    dt: float,
    *,
    tau: float = 1.0,
    decay: float = 0.0,
    activation: Activation = "linear",
    unroll: int = 1,
) -> Trajectory:
    """Gradient descent with step dt / tau for ``steps`` steps; losses [T, K] per task on
    ``evaluation`` (arrays [K, N, ...], or [N, ...] for one task, as the batches).

    Step n: W <- W - (dt / tau) lr_n dL_n/dW with L_n = ``training_loss``: the
    engagement-weighted task losses of W~ = W * (1 + g_n) plus (decay + decay_n) ||W||^2 / 2,
    differentiated by ``jax.grad`` and applied as ``optax.sgd`` by
    ``learners.online_gradient.gradient_step`` (engagement psi 1 if unset); the task losses of
    the controlled network W~ are recorded before the step. ``ValueError`` if the engagement
    or gating does not have one entry per task.
    """
    eval_x, eval_y = _tasks_first(evaluation)
    n_tasks, hidden = eval_x.shape[0], w0.w1.shape[0]
    for name, signal, shape in (("engagement", control.engagement, (steps, n_tasks)),
                                ("gating", control.gating, (steps, n_tasks, hidden))):
        if signal is not None and signal.shape != shape:
            raise ValueError(f"{name} has shape {signal.shape}, expected {shape} (steps, "
                             "tasks as in the evaluation data, hidden units)")

    def body(w: Weights, inputs: tuple[jax.Array, Control]):
        step, u = inputs
        wt = effective(w, u)
        x, y = _tasks_first(batches(step))
        gates = jnp.ones((n_tasks, hidden)) if u.gating is None else u.gating
        weight = jnp.ones(n_tasks) if u.engagement is None else u.engagement
        lam = decay if u.decay is None else decay + u.decay
        sgd = optax.sgd(dt / tau * (1.0 if u.lr is None else u.lr))
        new, _, _ = gradient_step(
            lambda v: (training_loss(v, u, x, y, gates, weight, lam, activation), None),
            sgd, w, sgd.init(w))
        return new, (task_sample_losses(wt, eval_x, eval_y, gates, activation), w)

    final, (losses, path) = jax.lax.scan(
        body, w0, (jnp.arange(steps), control), unroll=unroll)
    return Trajectory(losses, path, final)


def _tasks_first(xy: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """Data with a leading task axis: one task's [N, d] arrays become [1, N, d]."""
    x, y = xy
    return (x[None], y[None]) if x.ndim == 2 else (x, y)
