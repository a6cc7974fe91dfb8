"""Importance analysis against independent references: the ROC AUC against scikit-learn, the
Fisher of a linear map against its closed form, consolidation against the ridge solution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from metalab.analysis.fisher import fisher
from metalab.analysis.importance import auc, choose_scale, consolidated
from metalab.errors import BadInput
from metalab.learners import LEARNERS
from metalab.models import deep_linear, mlp
from metalab.tasks import SharedWeights


@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_sklearn(ties):
    rng = np.random.default_rng(0)
    labels = rng.random(60) < 0.4
    scores = rng.normal(size=60) + labels
    if ties:
        scores = np.round(scores)
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(BadInput, match="labels"):
        auc(np.arange(3.0), np.ones(3, bool))


def test_fisher_sums_every_output_of_an_mlp():
    """Against the per-output gradients written out one by one."""
    model = mlp((3, 5, 2), "tanh")
    learner = LEARNERS["complex-synapse"](model, 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
    flat, unravel = jax.flatten_util.ravel_pytree(meta["omega"])
    grad = jax.jit(jax.grad(lambda f, xi, j: model.apply(unravel(f), xi[None])[0, j]))
    want = sum(np.asarray(grad(flat, xi, j)) ** 2 for xi in x for j in range(2)) / len(x)
    got = fisher(learner, meta, meta["omega"], x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_fisher_of_a_linear_map_is_the_input_second_moment():
    family = SharedWeights(d_in=3, d_out=4, specific=2)
    learner = LEARNERS["complex-synapse"](deep_linear((3, 4)), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    x = family.sample(jax.random.PRNGKey(1), 1).query_x[0]
    want = np.repeat((np.asarray(x) ** 2).mean(0)[:, None], 4, axis=1).ravel()
    np.testing.assert_allclose(fisher(learner, meta, meta["omega"], x), want, rtol=1e-5)


def test_consolidated_reaches_the_ridge_solution(x64):
    """Many inner steps on a linear map minimise MSE + sum s/2 (w - anchor)^2: per output
    column j, (2/(K m) X^T X + diag s_j) w_j = 2/(K m) X^T y_j + s_j anchor_j."""
    family = SharedWeights(d_in=3, d_out=2, specific=1, k_support=6)
    task = jax.tree.map(lambda a: a[0], family.sample(jax.random.PRNGKey(0), 1))
    learner = LEARNERS["complex-synapse"](deep_linear((3, 2)), 0.05)
    anchor = {"layer0": {"w": jax.random.normal(jax.random.PRNGKey(1), (3, 2))}}
    s = jnp.asarray(np.random.default_rng(0).uniform(0.1, 2.0, 6))
    phi = consolidated(learner, anchor, s, task, 3000)["layer0"]["w"]
    x, y = np.asarray(task.support_x), np.asarray(task.support_y)
    c = 2 / (x.shape[0] * 2)
    s2, w0 = np.asarray(s).reshape(3, 2), np.asarray(anchor["layer0"]["w"])
    for j in range(2):
        want = np.linalg.solve(c * x.T @ x + np.diag(s2[:, j]),
                               c * x.T @ y[:, j] + s2[:, j] * w0[:, j])
        np.testing.assert_allclose(phi[:, j], want, rtol=1e-6, atol=1e-8)


def test_choose_scale_skips_a_scale_that_diverges():
    grid = np.zeros((4, 1, 3, 3))
    grid[..., 1] = grid[..., 2] = np.array([2.0, 1.0, 0.5])  # the last scale is best ...
    grid[0, 0, 2, 2] = np.inf  # ... but diverged on one pair
    assert choose_scale(grid).tolist() == [1]


def test_shared_weights_family():
    """Shared columns equal the family's map in every task; the others vary with variance
    1/d_in; least squares on noise-free data recovers each task's map."""
    family = SharedWeights(d_in=4, d_out=5, specific=2, noise=0.0, k_support=30)
    w = np.asarray(family.sample_maps(jax.random.PRNGKey(0), 4000))
    mask = family.mask()
    assert mask.sum() == 4 * 3 and not mask[:, :2].any()
    np.testing.assert_array_equal(w[:, mask], np.broadcast_to(
        np.asarray(family.shared_map())[mask], (4000, mask.sum())))
    np.testing.assert_allclose(w[:, ~mask].var(0), 1 / 4, rtol=0.1)
    task = family.sample(jax.random.PRNGKey(1), 3)
    fit = [np.linalg.lstsq(x, y, rcond=None)[0] for x, y in zip(
        np.asarray(task.support_x), np.asarray(task.support_y), strict=True)]
    np.testing.assert_allclose(np.asarray(fit)[:, mask], np.broadcast_to(
        np.asarray(family.shared_map())[mask], (3, mask.sum())), atol=1e-4)
    np.testing.assert_allclose(np.asarray(task.support_x).std((0, 1)), family.scales(),
                               rtol=0.3)


def test_shared_weights_rejects_no_shared_output():
    with pytest.raises(BadInput, match="--specific"):
        SharedWeights(d_out=3, specific=3)
