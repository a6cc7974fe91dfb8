"""Average gradient-descent dynamics of a two-layer linear network under control signals.

The network y = W2 W1 x trained by full-batch gradient descent on the squared error has
average dynamics that depend on the data only through its covariances (Saxe, McClelland and
Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep linear neural
networks"):

    tau dW1/dt = W2^T (Syx - W2 W1 Sxx) - lambda W1
    tau dW2/dt = (Syx - W2 W1 Sxx) W1^T - lambda W2

Carrasco-Davis, Masis and Saxe 2023 ("Meta-learning strategies through value maximization in
neural networks", arXiv 2310.19919) add control signals to these dynamics; the ones here are
those of ``controls.Control``: per-weight gains (W~ = W * (1 + g); the forward pass uses W~ and
each gradient is scaled by 1 + g), a learning-rate multiplier, a weight-decay coefficient, task
engagement (weights of the tasks in the training loss) and per-task gates on the hidden units.
The training loss is

    L_train(W) = sum_k psi_k L_k(W~, gates_k) / K + (lambda + lambda(t)) ||W||^2 / 2

(fixed decay lambda plus the controlled lambda(t); ||W||^2 sums both layers), and
tau dW/dt = -lr(t) dL_train/dW: the learning rate scales the decay term too. Integration is a
``lax.scan`` (Euler, or classical Runge-Kutta with the control held constant over a step), so
the whole trajectory is differentiable with respect to the controls and the initial weights.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from metalab.effort.controls import Control, Weights

Integrator = Literal["euler", "rk4"]


class TaskCovariances(NamedTuple):
    """K regression tasks given by their second-order statistics (one row per task)."""

    sxx: jax.Array  # [K, d_in, d_in] input covariance E[x x^T]
    syx: jax.Array  # [K, d_out, d_in] input-output covariance E[y x^T]
    syy: jax.Array  # [K] E[||y||^2], the trace of the output covariance (noise included)


class Trajectory(NamedTuple):
    """What one run of the dynamics produced (step n is time n * dt)."""

    losses: jax.Array  # [T, K] loss of each task at the start of each step (controlled net)
    weights: Weights  # stacked weights at the start of each step: [T, h, d_in], [T, d_out, h]
    final: Weights  # weights after the last step


def from_teachers(teachers: jax.Array, sxx: jax.Array, noise_var: float = 0.0) -> TaskCovariances:
    """Tasks y = W*_k x + noise from teachers [K, d_out, d_in] and an input covariance.

    ``noise_var`` is the variance of the output noise per output unit; it sets the loss floor
    d_out * noise_var / 2 that no network can go below.
    """
    k, d_out, d_in = teachers.shape
    sxx = jnp.broadcast_to(sxx, (k, d_in, d_in))
    syx = teachers @ sxx
    syy = jnp.einsum("koi,kij,koj->k", teachers, sxx, teachers) + d_out * noise_var
    return TaskCovariances(sxx, syx, syy)


def effective(w: Weights, u: Control) -> Weights:
    """The weights the network computes with: W~ = W * (1 + g) under a gain control."""
    if u.gain is None:
        return w
    return Weights(w.w1 * (1.0 + u.gain.w1), w.w2 * (1.0 + u.gain.w2))


def _gates(u: Control, n_tasks: int, hidden: int) -> jax.Array:
    if u.gating is None:
        return jnp.ones((n_tasks, hidden))
    return u.gating


def task_losses(tasks: TaskCovariances, w: Weights, u: Control) -> jax.Array:
    """Loss E||y - y_hat||^2 / 2 of each task [K], from the covariances (gates of task k)."""
    wt = effective(w, u)
    gates = _gates(u, tasks.sxx.shape[0], wt.w1.shape[0])
    maps = jnp.einsum("oh,kh,hi->koi", wt.w2, gates, wt.w1)  # W2~ diag(gate_k) W1~
    cross = jnp.einsum("koi,koi->k", maps, tasks.syx)
    quad = jnp.einsum("koi,kij,koj->k", maps, tasks.sxx, maps)
    return 0.5 * tasks.syy - cross + 0.5 * quad


def velocity(tasks: TaskCovariances, w: Weights, u: Control, tau: float, decay: float) -> Weights:
    """dW/dt = -lr dL_train/dW / tau of the controlled average dynamics (the engagement-weighted
    mean of the task losses plus the weight-decay penalty; engagement 1 is the plain mean)."""
    wt = effective(w, u)
    n_tasks = tasks.sxx.shape[0]
    gates = _gates(u, n_tasks, wt.w1.shape[0])
    weight = jnp.ones(n_tasks) if u.engagement is None else u.engagement
    weight = weight / n_tasks
    maps = jnp.einsum("oh,kh,hi->koi", wt.w2, gates, wt.w1)
    err = tasks.syx - maps @ tasks.sxx  # [K, d_out, d_in]: Syx - W Sxx
    g1 = jnp.einsum("k,oh,kh,koi->hi", weight, wt.w2, gates, err)  # -dL/dW1~
    g2 = jnp.einsum("k,koi,kh,hi->oh", weight, err, gates, wt.w1)  # -dL/dW2~
    if u.gain is not None:
        g1, g2 = g1 * (1.0 + u.gain.w1), g2 * (1.0 + u.gain.w2)
    rate = 1.0 if u.lr is None else u.lr
    lam = decay if u.decay is None else decay + u.decay
    return Weights(rate * (g1 - lam * w.w1) / tau, rate * (g2 - lam * w.w2) / tau)


def _step(tasks, w, u, dt, tau, decay, method: Integrator) -> Weights:
    def f(v: Weights) -> Weights:
        return velocity(tasks, v, u, tau, decay)

    def add(a: Weights, b: Weights, c: float) -> Weights:
        return jax.tree.map(lambda x, y: x + c * y, a, b)

    k1 = f(w)
    if method == "euler":
        return add(w, k1, dt)
    k2 = f(add(w, k1, dt / 2))
    k3 = f(add(w, k2, dt / 2))
    k4 = f(add(w, k3, dt))
    incr = jax.tree.map(lambda a, b, c, d: (a + 2 * b + 2 * c + d) / 6, k1, k2, k3, k4)
    return add(w, incr, dt)


def simulate(
    tasks: TaskCovariances,
    w0: Weights,
    control: Control,
    steps: int,
    dt: float,
    *,
    tau: float = 1.0,
    decay: float = 0.0,
    method: Integrator = "euler",
    unroll: int = 1,
) -> Trajectory:
    """Integrate the controlled average dynamics for ``steps`` steps of size ``dt``.

    Every signal set in ``control`` has a leading time axis of length ``steps`` and is held
    constant within a step; unset signals are neutral (no gain, rate 1, engagement 1, gates 1).
    ``unroll`` steps per loop iteration trade compile time for speed on small networks.
    """

    def body(w: Weights, u: Control):
        loss = task_losses(tasks, w, u)
        return _step(tasks, w, u, dt, tau, decay, method), (loss, w)

    final, (losses, path) = jax.lax.scan(body, w0, control, length=steps, unroll=unroll)
    return Trajectory(losses, path, final)
