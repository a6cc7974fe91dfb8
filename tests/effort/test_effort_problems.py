"""``effort.problems``: each problem's covariances match its definition, checked from the
returned data or by linear algebra."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.effort.problems import (
    alternation,
    direction_tasks,
    rotation_pair,
    sampled_regression,
    task_batch,
)


def test_rotation_pair_teachers_are_scaled_orthogonal_maps():
    tasks, w0 = rotation_pair(3, dim=4, hidden=5, strength=2.0, init_scale=0.1)
    for syx in tasks.syx:  # whitened inputs: E[y x^T] is the teacher
        np.testing.assert_allclose(syx @ syx.T, 4.0 * np.eye(4), atol=1e-5)
    assert not np.allclose(tasks.syx[0], tasks.syx[1])
    assert w0.w1.shape == (5, 4) and w0.w2.shape == (4, 5)


def test_alternation_engages_one_task_at_full_rate():
    on = jnp.asarray([True, True, False, True])
    np.testing.assert_array_equal(alternation(on), [[2, 0], [2, 0], [0, 2], [2, 0]])


def test_sampled_regression_covariances_are_the_sample_and_the_teacher():
    train, test, _, (x, y) = sampled_regression(0, (3.0, 1.0), samples=50, noise_var=0.1,
                                                hidden=4, init_scale=0.01)
    np.testing.assert_allclose(train.sxx[0], x[0].T @ x[0] / 50, rtol=1e-5)
    np.testing.assert_allclose(train.syx[0], y[0].T @ x[0] / 50, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.svd(test.syx[0], compute_uv=False), [3.0, 1.0],
                               rtol=1e-5)


def test_direction_tasks_are_one_mode_each():
    tasks, _ = direction_tasks((2.0, 0.5), noise_var=0.0, init_strength=0.01)
    np.testing.assert_allclose(tasks.syx, [[[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.5]]])


def test_task_batch_centres_on_the_shared_teacher():
    tasks = task_batch(jax.random.PRNGKey(0), 2000, dim=3, shared=1.5, spread=0.2)
    assert tasks.syx.shape == (2000, 1, 3, 3)
    mean = np.zeros((3, 3))
    mean[0, 0] = 1.5
    np.testing.assert_allclose(tasks.syx.mean(axis=0)[0], mean, atol=0.02)
