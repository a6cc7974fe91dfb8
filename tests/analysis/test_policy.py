"""Best-arm progress of bandit policies per mode, against hand-computed probabilities."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from metalab.analysis.policy import posterior_mode_sd, sign_progress, softmax_best_arm_progress


def test_softmax_best_arm_progress_matches_hand_computed_probabilities(x64):
    # two arms, mode u = (1, -1)/sqrt2, c = +1, contexts z = +1 and -1: the mode's logits are
    # +-m z / sqrt2, so P(best) = sigmoid(sqrt2 m |z|) = 3/4 at m = ln3 / sqrt2 (progress 1/2),
    # 1/2 at m = 0 (chance, 0) and 1/4 with the wrong sign (-1/2)
    u = jnp.array([[[1.0], [-1.0]]]) / math.sqrt(2)
    z = jnp.array([[[1.0], [-1.0]]])
    m = math.log(3) / math.sqrt(2)
    got = softmax_best_arm_progress(jnp.array([[[0.0]], [[m]], [[-m]]]), jnp.ones((1, 1)), u, z)
    np.testing.assert_allclose(got[:, 0], [0.0, 0.5, -0.5], atol=1e-12)
    # three arms, u = (1, 0, -1)/sqrt2, m z / sqrt2 = ln2: P = 2 / (2 + 1 + 1/2) = 4/7,
    # progress (4/7 - 1/3) / (2/3) = 5/14; a second mode (c < 0, m = 0) stays at chance
    u3 = jnp.array([[1.0, 1.0], [0.0, -2.0], [-1.0, 1.0]])[None]  # contrasts, orthogonal
    u3 = u3 / jnp.linalg.norm(u3, axis=1, keepdims=True)
    coef = jnp.array([[[math.sqrt(2) * math.log(2), 0.0]]])
    got = softmax_best_arm_progress(coef, jnp.array([[1.0, -2.0]]), u3, jnp.ones((1, 1, 2)))
    np.testing.assert_allclose(got[0], [5 / 14, 0.0], atol=1e-12)


def test_sign_progress_is_the_gaussian_sign_probability(x64):
    mean = jnp.array([[[1.0, 0.0]], [[-1.0, 3.0]]])  # [time 2, tasks 1, modes 2]
    sd = jnp.array([[[1.0, 2.0]], [[1.0, 1.5]]])
    got = sign_progress(mean, sd, jnp.array([[2.0, -1.0]]))
    phi1, phi2 = 0.8413447460685429, 0.9772498680518208  # Phi(1), Phi(2)
    np.testing.assert_allclose(got, [[2 * phi1 - 1, 0.0], [1 - 2 * phi1, 1 - 2 * phi2]],
                               atol=1e-12)


def test_posterior_mode_sd_matches_the_explicit_covariance(x64):
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    factor = jax.random.normal(k[0], (2, 5 * 4, 7))  # [tasks, arms d, q]
    u = jnp.linalg.qr(jax.random.normal(k[1], (2, 5, 3)))[0]
    v = jnp.linalg.qr(jax.random.normal(k[2], (2, 4, 3)))[0]
    got = posterior_mode_sd(factor, u, v)
    for n in range(2):
        cov = np.asarray(factor[n] @ factor[n].T)
        for i in range(3):
            e = np.outer(u[n, :, i], v[n, :, i]).ravel()
            np.testing.assert_allclose(got[n, i], math.sqrt(e @ cov @ e), rtol=1e-10)
