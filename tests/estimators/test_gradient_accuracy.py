"""How an estimate is scored against a reference: cosine and relative error by hand, the error
order as a log-log slope, and ``flat_gradient`` against the closed-form linear meta-gradient."""

import jax
import numpy as np
import pytest

from metalab.estimators import ESTIMATORS
from metalab.estimators.accuracy import flat_gradient, gradient_accuracy, log_slope
from metalab.estimators.closed_form import LinearTasks, exact_meta_gradient, linear_model
from metalab.learners import LEARNERS


def test_cosine_and_relative_error_by_hand():
    exact = np.array([3.0, 4.0])
    assert gradient_accuracy(exact, exact) == pytest.approx((1.0, 0.0))
    assert gradient_accuracy(2 * exact, exact) == pytest.approx((1.0, 1.0))
    assert gradient_accuracy(np.array([-4.0, 3.0]), exact) == pytest.approx((0.0, 2**0.5))


def test_log_slope_is_the_power_of_the_error():
    beta = np.array([1e-3, 1e-2, 1e-1])
    assert log_slope(beta, 7 * beta**2) == pytest.approx(2.0)
    assert log_slope(beta, 0.5 * beta) == pytest.approx(1.0)


@pytest.mark.usefixtures("x64")
def test_flat_gradient_of_implicit_matches_the_closed_form():
    learner = LEARNERS["maml"](linear_model(3), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = LinearTasks(dim=3).sample(jax.random.PRNGKey(1), 4)
    grad, metrics = flat_gradient(ESTIMATORS["implicit"](lam=1.0, tol=1e-12, solver_steps=200),
                                  learner, meta, tasks, 2000, jax.random.PRNGKey(2))
    assert grad.dtype == np.float64 and isinstance(metrics, dict)
    exact = np.asarray(exact_meta_gradient(meta["init"]["w"], tasks, 1.0)).ravel()
    cos, err = gradient_accuracy(grad, exact)
    assert cos > 1 - 1e-8 and err < 1e-5


def test_proximal_estimators_filter_by_requirements_and_names():
    """ProtoNets' estimator cannot drive MAML (no prototypes); ``only`` keeps the named ones
    and the settings reach their estimator."""
    from metalab.estimators.accuracy import proximal_estimators

    learner = LEARNERS["maml"](linear_model(2), 0.1)
    every = proximal_estimators(learner, 1.0, {})
    assert "backprop" in every and "implicit" in every and "prototypical" not in every
    chosen = proximal_estimators(learner, 1.0, {"evolution": {"population": 3}},
                                 only=("evolution", "implicit"))
    assert sorted(chosen) == ["evolution", "implicit"]


@pytest.mark.usefixtures("x64")
def test_sweeps_converge_to_the_closed_form_at_the_orders_of_the_rules():
    """Backprop through the proximal inner loop approaches the exact meta-gradient as the
    inner steps grow; the one-sided contrastive error is O(beta), the symmetric O(beta^2)."""
    import optax

    from metalab.estimators.accuracy import (
        accuracy_over_steps,
        contrastive_error_over_beta,
        proximal_estimators,
    )

    learner = LEARNERS["maml"](linear_model(3), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = LinearTasks(dim=3).sample(jax.random.PRNGKey(1), 4)
    exact = np.asarray(exact_meta_gradient(meta["init"]["w"], tasks, 1.0)).ravel()
    key = jax.random.PRNGKey(2)
    ests = proximal_estimators(learner, 1.0, {}, only=("backprop",))
    calls = []
    rows = accuracy_over_steps(ests, learner, 1.0, meta, tasks, exact, (2, 20, 500), key,
                               calls.append)["backprop"]
    assert rows.shape == (3, 2) and len(calls) == 3
    assert rows[0, 1] > rows[1, 1] > rows[2, 1] and rows[2, 1] < 1e-6
    heavy_ball = LEARNERS["maml"](linear_model(3), 0.1, inner_opt=optax.trace(decay=0.5))
    betas = (1e-2, 3e-2, 1e-1)
    errors = contrastive_error_over_beta(betas, 1.0, heavy_ball, meta, tasks, exact, 20000,
                                         key, 1e-12)
    assert log_slope(betas, errors["contrastive"]) == pytest.approx(1.0, abs=0.2)
    assert log_slope(betas, errors["contrastive-symmetric"]) == pytest.approx(2.0, abs=0.3)
