"""The mode read-out of a bandit policy (``analysis.policies``): a policy whose logits are the
true rewards has learned every mode, one with flat logits none; the metrics by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis.policies import policy_metrics, policy_progress
from metalab.learners.bandit_agents import make_stream
from metalab.tasks import LowRankBandit


def test_true_rewards_have_every_mode_and_flat_logits_none():
    bandit = LowRankBandit(n_arms=4, d_context=3, rank=2, noise=0.1)
    stream, truth = make_stream(bandit, jax.random.PRNGKey(0), 5, 10)
    oracle = jnp.einsum("nad,npd->npa", stream.w, stream.probes)
    logits = jnp.stack([jnp.zeros_like(oracle), 0.5 * oracle, oracle])  # [time, n, probes, arms]
    progress = np.asarray(policy_progress(stream, truth, logits, chunk=2))
    assert progress.shape == (3, 2)
    np.testing.assert_allclose(progress[0], 0.0, atol=1e-5)
    np.testing.assert_allclose(progress[1], 0.5, atol=1e-4)
    np.testing.assert_allclose(progress[2], 1.0, atol=1e-4)


def test_metrics_by_hand():
    progress = jnp.array([[0.0, 0.0], [0.6, 0.2], [1.0, 0.6], [1.0, 0.95]])
    times = jnp.array([1.0, 2.0, 4.0, 8.0])
    reward = jnp.arange(20.0)
    got = policy_metrics("pg", progress, times, reward, horizon=5)
    assert got["pg/mean_reward"] == pytest.approx(2.0)  # mean of 0..4
    assert got["pg/final_reward"] == pytest.approx(18.5)  # the last tenth: 18, 19
    assert np.isfinite(got["pg/mode_time_ratio"]) and got["pg/mode_time_ratio"] > 1
    assert set(got) == {"pg/mode_time_ratio", "pg/mode_time_ratio_90", "pg/mean_reward",
                        "pg/final_reward"}
