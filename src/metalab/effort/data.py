"""Data sets of the interference experiments of Carrasco-Davis, Masis and Saxe 2023 (arXiv
2310.19919) as tasks of a linear network: binary questions about scikit-learn's digits, and
the hierarchical item-feature task of Saxe, McClelland and Ganguli (2019); and the task
covariances of any such data set."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from metalab.effort.dynamics import TaskCovariances

DIGIT_TASKS = {"even": (0, 2, 4, 6, 8), "five_plus": (5, 6, 7, 8, 9), "loop": (0, 6, 8, 9)}
"""the digit questions, each answered +1 for the digits listed"""


def data_covariances(x: jax.Array, y: jax.Array, noise_var: float = 0.0) -> TaskCovariances:
    """Covariances of data sets x [K, N, d_in], y [K, N, d_out] (rows equally likely), with
    output noise of variance ``noise_var`` per unit added to E||y||^2."""
    n = x.shape[1]
    return TaskCovariances(jnp.einsum("kni,knj->kij", x, x) / n,
                           jnp.einsum("kno,kni->koi", y, x) / n,
                           jnp.einsum("kno,kno->k", y, y) / n + y.shape[2] * noise_var)


def digit_data(components: int) -> tuple[jax.Array, jax.Array, tuple[str, ...]]:
    """x [K, 1797, components] whitened PCA features, y [K, 1797, 1] = +-1 answers."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = data.data - data.data.mean(0)
    _, s, vt = np.linalg.svd(pixels, full_matrices=False)
    x = pixels @ vt[:components].T / (s[:components] / np.sqrt(len(pixels)))
    answers = np.stack([np.where(np.isin(data.target, digits), 1.0, -1.0)
                        for digits in DIGIT_TASKS.values()])
    k = len(DIGIT_TASKS)
    return (jnp.asarray(np.broadcast_to(x, (k, *x.shape)), jnp.float32),
            jnp.asarray(answers[..., None], jnp.float32), tuple(DIGIT_TASKS))


def semantic_data(weights: tuple[float, ...]) -> tuple[jax.Array, jax.Array, tuple[str, ...]]:
    """x [8, 1, 8] one-hot items, y [8, 1, 15] their weighted ancestor features."""
    items = 8
    features = []
    for depth, w in enumerate(weights):
        width = 2**depth
        node = np.arange(items) * width // items  # the item's ancestor at this depth
        features.append(w * np.eye(width)[node])
    y = np.concatenate(features, axis=1)
    return (jnp.eye(items)[:, None, :], jnp.asarray(y[:, None, :], jnp.float32),
            tuple(f"item_{i}" for i in range(items)))
