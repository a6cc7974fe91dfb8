"""``vsml.evaluate.tune_rate`` picks the best rate of a grid on validation streams and widens
the grid while the best rate sits at an edge: checked on a made-up learner whose accuracy is
a known function of its rate, peaking at ``PEAK``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.learners.online import OnlineLearner
from metalab.tasks.families import sign_of_sum
from metalab.vsml.evaluate import rate_curves, tune_rate

PEAK = 0.9


def _peaked(rate: float) -> OnlineLearner:
    """Right with probability exp(-log(lr / PEAK)^2), whatever the stream."""
    del rate

    def step(meta, key, x, label):
        key, sub = jax.random.split(key)
        right = jax.random.uniform(sub) < jnp.exp(-jnp.log(meta["lr"] / PEAK) ** 2)
        guess = jnp.where(right, label, 1 - label)
        return key, jax.nn.one_hot(guess, 2)

    return OnlineLearner("peaked", lambda key: {"lr": jnp.asarray(0.1)},
                         lambda meta, key, n_in, n_out: key, step)


def _tune(rates, widen):
    return tune_rate(_peaked, rates, 2, jax.random.PRNGKey(0), sign_of_sum(), 4, 100, 2, 3,
                     widen=widen)


@pytest.mark.parametrize(("widen", "rate", "edge", "tried"), [
    (1, pytest.approx(0.27), True, 4),  # 0.01 0.03 0.09 -> 0.27: still the top edge
    (3, pytest.approx(0.81), False, 6),  # ... -> 2.43: 0.81 inside the grid
    (0, 0.09, True, 3),  # no widening: the edge is reported
])
def test_a_best_rate_at_the_edge_widens_the_grid(widen, rate, edge, tried):
    best, scores, at_edge = _tune((0.03, 0.01, 0.09), widen)
    assert (best, at_edge, len(scores)) == (rate, edge, tried)
    assert max(scores, key=scores.get) == best


def test_an_inside_best_rate_is_kept_and_scored_on_other_streams():
    best, scores, edge = _tune((0.3, 1.0, 3.0), 2)
    assert (best, edge, sorted(scores)) == (1.0, False, [0.3, 1.0, 3.0])
    curves = rate_curves(_peaked, best, 2, jax.random.PRNGKey(1), sign_of_sum(), 4, 100, 2, 3)
    assert curves.shape == (2, 4, 100)
    np.testing.assert_allclose(curves.mean(), np.exp(-np.log(1 / PEAK) ** 2), atol=0.05)


def test_accuracy_summary_means_over_seeds_and_over_test_and_validation_families():
    from metalab.vsml.evaluate import accuracy_summary

    # seed accuracies 0.5 and 1.0 on "a" (t(0.975, 1) = 12.706, sd 0.3536, n 2), 0 on "b"
    a = np.stack([np.tile([1.0, 1.0, 0.0, 0.0], (2, 1)), np.ones((2, 4))])
    out = accuracy_summary({"rule": {"a": a, "b": np.zeros((2, 2, 4))}}, ("a", "b"), ())
    assert out["rule/a/online_accuracy"] == pytest.approx(0.75)
    sd = 0.5 / 2**0.5
    assert out["rule/a/online_accuracy_ci95"] == pytest.approx(12.706 * sd / 2**0.5, rel=1e-3)
    assert out["rule/b/online_accuracy_ci95"] == 0.0
    assert out["rule/unseen_accuracy"] == pytest.approx(0.375)
    assert "rule/validation_accuracy" not in out
