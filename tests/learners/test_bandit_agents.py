"""The low-rank contextual-bandit family and its agents against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis import posterior_factor, scaled_progress
from metalab.learners.bandit_agents import expected_reward, oracle_reward
from metalab.tasks import LowRankBandit


def test_oracle_value_of_two_arms_matches_closed_form():
    # two arms: rewards (z, -z) with z = c v.x / sqrt 2, so E max = E|z| = |c| / sqrt(pi)
    bandit = LowRankBandit(n_arms=2, d_context=3, rank=1, basis="fixed")
    truth = bandit.sample_truth(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(jax.random.PRNGKey(1), (200_000, 3))
    got = jax.vmap(lambda w: oracle_reward(w, x).mean())(truth.maps())
    np.testing.assert_allclose(got, jnp.abs(truth.coef[:, 0]) / jnp.sqrt(jnp.pi), rtol=0.01)
    arms = jnp.argmax(jnp.einsum("ad,nd->na", truth.maps()[0], x), axis=-1)
    np.testing.assert_allclose(expected_reward(truth.maps()[0], x, arms),
                               oracle_reward(truth.maps()[0], x), rtol=1e-6)


@pytest.mark.parametrize("basis", ["fixed", "random"])
def test_bandit_modes_are_contrasts_and_prior_matches_samples(basis):
    bandit = LowRankBandit(n_arms=4, d_context=3, rank=2, basis=basis)
    w = bandit.sample_truth(jax.random.PRNGKey(2), 40_000).maps()
    np.testing.assert_allclose(w.sum(axis=1), 0.0, atol=1e-5)  # no arm-wide offset
    mean, factor = bandit.prior()
    flat = np.asarray(w).reshape(40_000, -1)
    np.testing.assert_allclose(np.cov(flat.T), factor @ factor.T, atol=0.06)
    np.testing.assert_allclose(flat.mean(0), mean, atol=0.03)
    x = jax.random.normal(jax.random.PRNGKey(3), (5, 3))
    arm = jnp.array([0, 3, 1, 2, 0])
    np.testing.assert_allclose(bandit.features(x, arm) @ w[0].reshape(-1),
                               expected_reward(w[0], x, arm), rtol=1e-5, atol=1e-6)


def test_posterior_factor_matches_kernel_form(x64):
    k = jax.random.split(jax.random.PRNGKey(4), 4)
    phi = jax.random.normal(k[0], (9, 6))
    y = jax.random.normal(k[1], (9,))
    mean, factor = jax.random.normal(k[2], (6,)), jax.random.normal(k[3], (6, 4))
    mask = jnp.arange(9) < 5
    mu, chol = jax.jit(posterior_factor)(phi, mean, factor, 0.4, y, mask)
    p, s = np.asarray(phi)[:5], np.asarray(factor @ factor.T)
    gram = p @ s @ p.T + 0.16 * np.eye(5)
    want_mu = mean + s @ p.T @ np.linalg.solve(gram, np.asarray(y)[:5] - p @ mean)
    want_cov = s - s @ p.T @ np.linalg.solve(gram, p @ s)
    np.testing.assert_allclose(mu, want_mu, rtol=1e-9)
    np.testing.assert_allclose(chol @ chol.T, want_cov, atol=1e-10)


def test_scaled_progress_is_flat_for_a_proportional_learner(x64):
    true = jax.random.normal(jax.random.PRNGKey(5), (7, 3))
    beta = jnp.array([0.0, 2.0, 5.0, 8.0])
    got = scaled_progress(beta[:, None, None] * true[None], true)
    np.testing.assert_allclose(got, jnp.broadcast_to(beta[:, None] / 8.0, (4, 3)), atol=1e-12)


def test_lstm_agent_reads_the_previous_context():
    # recurrence cut (wh = 0, forget gate shut) and every input row but x_{t-1}'s zeroed: the
    # logits before pull 2 then move with the previous context x_1 and not with x_0
    from metalab.learners.bandit_agents import lstm_agent_init, lstm_episode

    bandit = LowRankBandit()
    d, hidden = bandit.d_context, 8
    params = lstm_agent_init(bandit, hidden, jax.random.PRNGKey(6))
    keep = jnp.zeros(params["wx"].shape[0]).at[d : 2 * d].set(1.0)
    params = {**params, "wh": jnp.zeros_like(params["wh"]), "wx": params["wx"] * keep[:, None],
              "b": params["b"].at[hidden : 2 * hidden].set(-1e4)}
    w = bandit.sample_truth(jax.random.PRNGKey(7), 1).maps()[0]
    x = jax.random.normal(jax.random.PRNGKey(8), (3, d))

    def before_pull_2(contexts):
        return lstm_episode(params, bandit, w, contexts, x[:1], jax.random.PRNGKey(9))[5][2]

    assert not np.allclose(before_pull_2(x), before_pull_2(x.at[1].add(1.0)))
    np.testing.assert_allclose(before_pull_2(x), before_pull_2(x.at[0].add(1.0)), atol=1e-6)
