"""Re-simulating an optimised control on a finite network trained by SGD on samples.

The controls of Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) are optimised through
the *average* dynamics, a deterministic ODE in the task covariances. To see what they are
worth to a real learner, the same control drives stochastic gradient descent of a finite
network (linear, or with a tanh / relu hidden layer) on minibatches drawn from the tasks, and
the value is recomputed from the losses that network actually reaches; over seeds this gives
the simulated value, reported beside the theory's. Minibatches come either from Gaussian
inputs with exactly the tasks' covariances or from a data set (the digits, the semantic
items), with optional output noise.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import TaskCovariances
from metalab.effort.empirical import Activation, Batch, simulate_sampled
from metalab.effort.value import Setting, held_out_losses, value_of
from metalab.stats import mean_ci95


def _root(sxx: jax.Array) -> jax.Array:
    """A symmetric square root of each PSD input covariance [K, d, d]."""
    evals, evecs = jnp.linalg.eigh(sxx)
    return jnp.einsum("kij,kj,klj->kil", evecs, jnp.sqrt(jnp.clip(evals, 0.0)), evecs)


def gaussian_task_sampler(tasks: TaskCovariances):
    """``sample(key, n) -> (x [K, n, d_in], y [K, n, d_out])`` with x ~ N(0, Sxx_k),
    y = T_k x + noise, T_k = Syx_k Sxx_k^+ and the noise variance that makes E||y||^2 = syy_k:
    samples whose population statistics are exactly ``tasks``."""
    teachers = jnp.einsum("koi,kij->koj", tasks.syx, jnp.linalg.pinv(tasks.sxx, hermitian=True))
    root = _root(tasks.sxx)
    d_out = tasks.syx.shape[1]
    explained = jnp.einsum("koi,kij,koj->k", teachers, tasks.sxx, teachers)
    noise_std = jnp.sqrt(jnp.clip(tasks.syy - explained, 0.0) / d_out)

    def sample(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        kx, kn = jax.random.split(key)
        z = jax.random.normal(kx, (tasks.sxx.shape[0], n, tasks.sxx.shape[1]))
        x = jnp.einsum("kij,knj->kni", root, z)
        noise = jax.random.normal(kn, (*x.shape[:2], d_out)) * noise_std[:, None, None]
        return x, jnp.einsum("koi,kni->kno", teachers, x) + noise

    return sample


def sampler_batches(key: jax.Array, sample, batch: int) -> Batch:
    """Fresh minibatches of ``batch`` samples per task at every step (online SGD)."""
    return lambda step: sample(jax.random.fold_in(key, step), batch)


def data_sampler(x: jax.Array, y: jax.Array, noise_std: float = 0.0):
    """``sample(key, n)``: n rows per task drawn with replacement from x [K, N, d_in],
    y [K, N, d_out], plus Gaussian output noise of standard deviation ``noise_std``."""

    def sample(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        ki, kn = jax.random.split(key)
        idx = jax.random.randint(ki, (x.shape[0], n), 0, x.shape[1])
        xs = jnp.take_along_axis(x, idx[..., None], axis=1)
        ys = jnp.take_along_axis(y, idx[..., None], axis=1)
        return xs, ys + noise_std * jax.random.normal(kn, ys.shape)

    return sample


def simulated_value(
    control: Control,
    w0: Weights,
    tasks: TaskCovariances,
    sample,
    key: jax.Array,
    setting: Setting,
    *,
    batch: int = 32,
    activation: Activation = "linear",
    evaluation: tuple[jax.Array, jax.Array] | None = None,
    free: tuple[str, ...] = (),
) -> tuple[jax.Array, jax.Array]:
    """(value, losses [T, K]) of SGD with minibatches of ``batch`` under ``control``.

    ``sample`` draws the training minibatches (``gaussian_task_sampler``, ``data_sampler``).
    A linear network is scored by its exact population loss on ``tasks`` (the test statistics
    in the bilevel case); a nonlinear one by its loss on ``evaluation`` (arrays [K, N, ...];
    default 2000 fresh samples per task).
    The value counts the same control cost as the theory's: that of every signal but those
    in ``free`` (signals the task fixes, such as a schedule of which task is trained).
    """
    k_train, k_eval = jax.random.split(key)
    if evaluation is None:  # a linear network is scored exactly: one sample is a placeholder
        evaluation = sample(k_eval, 1 if activation == "linear" else 2000)
    traj = simulate_sampled(
        w0, control, sampler_batches(k_train, sample, batch), evaluation, setting.steps,
        setting.dt, tau=setting.tau, decay=setting.decay, activation=activation,
        unroll=setting.unroll)
    if activation == "linear":
        traj = traj._replace(losses=held_out_losses(tasks, traj, control))
    costed = control._replace(**{name: None for name in free})
    return value_of(traj, costed, setting)[0], traj.losses


@partial(jax.jit, static_argnames=("sample", "setting", "batch", "activation", "free"))
def simulated_values(control: Control, w0: Weights, tasks: TaskCovariances, keys: jax.Array,
                     evaluation: tuple[jax.Array, jax.Array] | None, *, sample, setting: Setting,
                     batch: int, activation: Activation, free: tuple[str, ...]) -> jax.Array:
    """``simulated_value`` of one control for every key [seeds], as one program per control
    shape and network (pass the same ``sample`` function for every control of a run so that
    the compiled program is reused)."""
    return jax.vmap(lambda k: simulated_value(
        control, w0, tasks, sample, k, setting, batch=batch, activation=activation,
        evaluation=evaluation, free=free)[0])(keys)


def simulated_summary(name: str, control: Control, w0: Weights, tasks: TaskCovariances,
                      keys: jax.Array, evaluation: tuple[jax.Array, jax.Array] | None, *,
                      sample, setting: Setting, batch: int, nets: tuple[Activation, ...],
                      free: tuple[str, ...] = ()) -> dict[str, float]:
    """``simulated/<name>/<net>/mean`` and ``/ci95`` (95% CI half-width over ``keys``, the
    seeds) of ``simulated_values`` for each network in ``nets``."""
    out = {}
    for net in nets:
        values = simulated_values(control, w0, tasks, keys, evaluation, sample=sample,
                                  setting=setting, batch=batch, activation=net, free=free)
        mean, ci = mean_ci95(np.asarray(values))
        out[f"simulated/{name}/{net}/mean"], out[f"simulated/{name}/{net}/ci95"] = mean, ci
    return out
