"""``analysis.dynamics``: the learning-dynamics protocol (meta-training set-ups, shifted
families, tracing and analysis) and the aggregation of its summaries over seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis.dynamics import DynamicsProtocol, seed_aggregate
from metalab.errors import BadInput

TINY = DynamicsProtocol(d_in=2, d_out=2, hidden=4, noise=0.1, k_support=5, learner_steps=30,
                        learner_lr=0.1, inner_lr=0.05, meta_steps=3, outer_lr=3e-4,
                        metasgd_outer_lr=1e-4, metasgd_rate_lr=1e-4, memory_hidden=4,
                        meta_batch=2, eval_steps=3, eval_tasks=20, memory_steps=2,
                        lstm_steps=4, lstm_queries=2)


def test_seed_aggregate_gives_student_t_interval_and_counts_reached_seeds():
    per_seed = {"linear": [{"lstm/mode_time_ratio": v, "lstm/final_query_mse": 0.1}
                           for v in (1.0, 2.0, 3.0)],
                "bandit": [{"pg/mode_time_ratio": v} for v in (2.0, float("inf"), 4.0)]}
    out = seed_aggregate(per_seed)
    assert out["lstm/linear/mode_time_ratio"] == pytest.approx(2.0)
    # t(0.975, 2) = 4.3027, sd 1, n 3
    assert out["lstm/linear/mode_time_ratio_ci95"] == pytest.approx(4.3027 / 3**0.5, rel=1e-4)
    assert out["lstm/linear/mode_time_ratio_reached"] == 3.0
    assert out["pg/bandit/mode_time_ratio_reached"] == 2.0
    assert out["pg/bandit/mode_time_ratio"] == float("inf")
    assert out["lstm/linear/final_query_mse_ci95"] == pytest.approx(0.0, abs=1e-12)


def test_metasgd_rates_take_their_own_adam_step():
    """Adam's first update is -lr * sign(g) per element (closed form): the init moves by
    metasgd_outer_lr, the learned rates by metasgd_rate_lr; MAML by outer_lr."""
    protocol = DynamicsProtocol(variant="fourier", hidden=40, noise=0.05, outer_lr=1e-2,
                                metasgd_outer_lr=1e-2, metasgd_rate_lr=1e-5)
    meta = {"init": {"w": jnp.zeros(3)}, "lr": {"w": jnp.zeros(3)}}
    grad = {"init": {"w": jnp.full(3, 1e-3)}, "lr": {"w": jnp.full(3, -1e-3)}}
    opt = protocol.meta_optimizer("metasgd")
    step, _ = opt.update(grad, opt.init(meta), meta)
    np.testing.assert_allclose(step["init"]["w"], -1e-2, rtol=1e-4)
    np.testing.assert_allclose(step["lr"]["w"], 1e-5, rtol=1e-4)
    opt = protocol.meta_optimizer("maml")
    step, _ = opt.update(grad["init"], opt.init(meta["init"]), meta["init"])
    np.testing.assert_allclose(step["w"], -1e-2, rtol=1e-4)


@pytest.mark.parametrize("name, total", [("maml", 3), ("metasgd", 3), ("memory", 2),
                                         ("lstm", 4)])
def test_meta_training_steps_each_meta_learner(name, total):
    trained, state, step, steps = TINY.meta_training(name, jax.random.PRNGKey(0))
    assert steps == total
    after, metrics = step(state)
    assert int(after.step) == 1 and np.isfinite(float(metrics["loss"]))
    assert jax.tree.structure(after.meta) == jax.tree.structure(state.meta)
    with pytest.raises(BadInput, match="name"):
        TINY.meta_training("bayes", jax.random.PRNGKey(0))


def test_shifted_families_have_the_shifted_spectra_and_noise():
    shifted = TINY.shifted_configs()
    np.testing.assert_allclose(shifted["steep"].distribution().singular_values(), [3.0, 0.1],
                               rtol=1e-6)
    np.testing.assert_allclose(shifted["weak"].distribution().singular_values(), [1.5, 0.15],
                               rtol=1e-6)
    assert shifted["noisy"].noise == pytest.approx(0.4)
    fourier = DynamicsProtocol(variant="fourier", hidden=4, noise=0.05).shifted_configs()
    assert set(fourier) == {"decaying", "noisy"} and fourier["decaying"].decay == 1.0


def test_trace_analyses_plain_learners_and_snapshots_against_bayes():
    learner, state, _, _ = TINY.meta_training("maml", jax.random.PRNGKey(1))
    trained = {"maml": (learner, [(1, state.meta), (3, state.meta)])}
    summary, details = TINY.trace(trained, seed=0)
    assert summary["bayes/bayes_similarity"] == pytest.approx(1.0)
    assert {"learner", "reference", "online", "maml", "bayes"} <= set(details)
    # the snapshot at step 1 is the same meta-parameters as the last one: same error
    assert summary["maml/meta_step_1/final_query_mse"] == pytest.approx(
        summary["maml/final_query_mse"], rel=1e-5)
    for label in ("steep", "weak", "noisy"):
        assert f"maml/shift_{label}/final_query_mse" in summary
