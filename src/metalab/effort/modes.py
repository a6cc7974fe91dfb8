"""Tasks built from singular modes, decoupled initial weights and the closed-form mode
trajectory of Saxe, McClelland and Ganguli 2014.

With whitened inputs (Sxx = I), Syx = U diag(s) V^T and weights initialised in the same
basis (W1 = R diag(a) V^T, W2 = U diag(a) R^T, "decoupled"), every mode learns on its own:
its strength u = a1 a2 follows tau du/dt = 2 u (s - u), a sigmoid in time whose timescale
tau / (2 s) makes strong modes learn first. Here U, V and R are identities (the task is
given in its own mode basis), so per-weight gains on the diagonal are per-mode gains.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import TaskCovariances, from_teachers


def mode_task(strengths: jax.Array, noise_var: float = 0.0) -> TaskCovariances:
    """One task (K = 1) with whitened inputs and Syx = diag(strengths), in its mode basis."""
    s = jnp.asarray(strengths)
    return from_teachers(jnp.diag(s)[None], jnp.eye(s.shape[0]), noise_var)


def decoupled_init(n_modes: int, strength: float, hidden: int | None = None) -> Weights:
    """Balanced, decoupled small weights: each mode starts at strength ``strength``."""
    hidden = n_modes if hidden is None else hidden
    a = jnp.sqrt(strength) * jnp.eye(hidden, n_modes)
    return Weights(a, a.T)


def random_init(keys: jax.Array, d_in: int, hidden: int, d_out: int, scale: float) -> Weights:
    """Gaussian weights of standard deviation ``scale``: W1 [hidden, d_in] from ``keys[0]``,
    W2 [d_out, hidden] from ``keys[1]``."""
    k1, k2 = keys
    return Weights(scale * jax.random.normal(k1, (hidden, d_in)),
                   scale * jax.random.normal(k2, (d_out, hidden)))


def mode_samples(key: jax.Array, strengths: jax.Array, noise_var: float, n: int
                 ) -> tuple[jax.Array, jax.Array]:
    """``n`` samples of the mode task: x ~ N(0, I), y = strengths * x + noise of variance
    ``noise_var`` per unit (the finite data set whose population is ``mode_task``)."""
    kx, kn = jax.random.split(key)
    s = jnp.asarray(strengths)
    x = jax.random.normal(kx, (n, s.shape[0]))
    return x, x * s[None] + jnp.sqrt(noise_var) * jax.random.normal(kn, x.shape)


def widen_gain(control: Control, hidden: int) -> Control:
    """Embed a mode-space gain [T, n, n] into a network with ``hidden`` >= n hidden units
    (zero gain on the extra units), e.g. to apply the theory's control to a wider network."""
    g1, g2 = control.gain
    pad1 = [(0, 0), (0, hidden - g1.shape[1]), (0, 0)]
    pad2 = [(0, 0), (0, 0), (0, hidden - g2.shape[2])]
    return Control(gain=Weights(jnp.pad(g1, pad1), jnp.pad(g2, pad2)))


def sigmoid_mode(t: jax.Array, s: jax.Array, u0: float, tau: float = 1.0) -> jax.Array:
    """Closed-form strength of a mode of singular value ``s`` from balanced strength ``u0``
    at time ``t`` (Saxe et al. 2014, section 2): u = s / (1 + (s / u0 - 1) exp(-2 s t / tau))."""
    return s / (1.0 + (s / u0 - 1.0) * jnp.exp(-2.0 * s * t / tau))


def mode_strengths(weights: Weights) -> jax.Array:
    """Strength of each mode (diagonal of W2 W1) along a stacked trajectory: [T, modes]."""
    maps = jnp.einsum("toh,thi->toi", weights.w2, weights.w1)
    return jnp.diagonal(maps, axis1=1, axis2=2)


def mode_gain(control: Control) -> jax.Array:
    """Per-mode gain [T, modes]: mean over the two layers of the diagonal gains."""
    g1 = jnp.diagonal(control.gain.w1, axis1=1, axis2=2)
    g2 = jnp.diagonal(control.gain.w2, axis1=1, axis2=2)
    return 0.5 * (g1 + g2)


def half_max_width(signal: np.ndarray, dt: float) -> np.ndarray:
    """Full width at half maximum of each column of a [T, n] control (in units of time): the
    length of the contiguous run around the column's peak where it stays at or above half the
    peak. It measures how long effort is sustained; 0 for a column that never rises above 0."""
    signal = np.asarray(signal)
    widths = np.zeros(signal.shape[1])
    for i, column in enumerate(signal.T):
        peak = int(np.argmax(column))
        if column[peak] <= 0:
            continue
        above = column >= 0.5 * column[peak]
        lo = peak - int(np.argmin(above[peak::-1])) if not above[:peak + 1].all() else -1
        hi = peak + int(np.argmin(above[peak:])) if not above[peak:].all() else len(column)
        widths[i] = (hi - lo - 1) * dt
    return widths


def peak_time(signal: np.ndarray, dt: float) -> np.ndarray:
    """Time of the maximum of each column of a [T, n] control signal."""
    return np.argmax(signal, axis=0) * dt


def centre_time(signal: np.ndarray, dt: float) -> np.ndarray:
    """Signal-weighted mean time of each column of a non-negative [T, n] signal."""
    t = np.arange(signal.shape[0])[:, None] * dt
    weight = np.clip(signal, 0.0, None)
    return (weight * t).sum(0) / np.maximum(weight.sum(0), 1e-12)
