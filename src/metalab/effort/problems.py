"""Small linear-regression problems of the learning-effort experiments (Carrasco-Davis, Masis
and Saxe 2023, arXiv 2310.19919), each drawn from a seed: two tasks with random orthogonal
teachers (continual learning, task switching) and their engagement schedule, one task known
only through a finite noisy sample (learning rate and weight decay), one task per input
direction (curricula), and a batch of tasks around a shared mean (a learned initialisation)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.effort.controls import Weights
from metalab.effort.dynamics import TaskCovariances, from_teachers
from metalab.effort.modes import decoupled_init, random_init


def rotation_pair(seed: int, dim: int, hidden: int, strength: float, init_scale: float
                  ) -> tuple[TaskCovariances, Weights]:
    """Two tasks whose teachers are ``strength`` times random orthogonal [dim, dim] maps on
    whitened inputs, and random initial weights of scale ``init_scale``."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    rot = [jnp.linalg.qr(jax.random.normal(k, (dim, dim)))[0] for k in keys[:2]]
    tasks = from_teachers(strength * jnp.stack(rot), jnp.eye(dim))
    return tasks, random_init(keys[2:], dim, hidden, dim, init_scale)


def alternation(on_first: jax.Array) -> jax.Array:
    """Engagement [T, 2] of two tasks: the first at full rate (2) where ``on_first`` [T] is
    true, the second elsewhere."""
    return 2.0 * jnp.stack([on_first, ~on_first], axis=1).astype(jnp.float32)


def sampled_regression(seed: int, strengths: tuple[float, ...], samples: int, noise_var: float,
                       hidden: int, init_scale: float):
    """(training covariances of ``samples`` noisy examples, the task's true covariances, w0,
    training data (x [1, N, d], y [1, N, d])) of one task with teacher U diag(strengths) V^T
    (random orthogonal U, V): overfitting the sample is what weight decay prevents."""
    d = len(strengths)
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    rot = [jnp.linalg.qr(jax.random.normal(k, (d, d)))[0] for k in keys[:2]]
    teacher = rot[0] @ jnp.diag(jnp.asarray(strengths)) @ rot[1].T
    x = jax.random.normal(keys[2], (samples, d))
    y = x @ teacher.T + jnp.sqrt(noise_var) * jax.random.normal(keys[3], (samples, d))
    train = TaskCovariances((x.T @ x / samples)[None], (y.T @ x / samples)[None],
                            jnp.sum(y**2)[None] / samples)
    test = from_teachers(teacher[None], jnp.eye(d), noise_var)
    w0 = random_init(jax.random.split(keys[4]), d, hidden, d, init_scale)
    return train, test, w0, (x[None], y[None])


def direction_tasks(strengths: tuple[float, ...], noise_var: float, init_strength: float
                    ) -> tuple[TaskCovariances, Weights]:
    """One task per input direction k, teacher s_k e_k e_k^T on inputs x_k (the others
    silent), and decoupled initial weights of strength ``init_strength``."""
    k = len(strengths)
    eye = jnp.eye(k)
    teachers = jnp.asarray(strengths)[:, None, None] * eye[:, :, None] * eye[:, None, :]
    sxx = eye[:, :, None] * eye[:, None, :]
    return from_teachers(teachers, sxx, noise_var), decoupled_init(k, init_strength)


def task_batch(key: jax.Array, n: int, dim: int, shared: float, spread: float
               ) -> TaskCovariances:
    """``n`` tasks stacked for vmap (every field [n, 1, ...]): teacher ``shared`` e_0 e_0^T
    plus ``spread`` times a Gaussian [dim, dim] / sqrt(dim), whitened inputs."""
    g = jax.random.normal(key, (n, dim, dim)) / jnp.sqrt(dim)
    mean = shared * jnp.zeros((dim, dim)).at[0, 0].set(1.0)
    tasks = from_teachers(mean[None] + spread * g, jnp.eye(dim))
    return jax.tree.map(lambda x: x[:, None], tasks)
