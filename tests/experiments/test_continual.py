"""Continual learning on sinusoid streams: the stream inner loop, the retention scores, the
stream meta-gradient (finite differences), and small runs of the sparse experiments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from metalab.errors import BadInput
from metalab.estimators.stream import learn_stream, retention_matrix, stream_backprop
from metalab.experiments.sinusoid.experiment import SinusoidConfig
from metalab.experiments.where_to_learn import continual
from metalab.experiments.where_to_learn import experiment as where_to_learn
from metalab.learners import LEARNERS, inner_loop
from metalab.models import Model
from metalab.runs.rundir import RunDir
from metalab.tasks.sine_stream import SineStream


def _net(d_in: int) -> Model:
    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (d_in, 3)) * 0.5, "b1": jnp.zeros((3,)),
                "w2": jax.random.normal(k2, (3, 1)) * 0.5}

    def apply(p, x):
        return jnp.tanh(x @ p["w1"] + p["b1"][None]) @ p["w2"]

    return Model(init, apply)


def _stream(n: int = 2, t: int = 3):
    dist = SineStream(t, 4, 4)
    return dist, dist.sample(jax.random.PRNGKey(3), n)


def test_stream_layout_carries_function_index():
    dist, s = _stream()
    assert s.support_x.shape == (2, 3, 4, 4) and s.query_y.shape == (2, 3, 4, 1)
    np.testing.assert_array_equal(s.support_x[0, 1, :, 1:], np.tile([0.0, 1.0, 0.0], (4, 1)))


def test_stream_equals_sequential_inner_loops_and_retention_matrix():
    dist, streams = _stream()
    s = jax.tree.map(lambda a: a[0], streams)
    learner = LEARNERS["sparse-maml"](_net(dist.input_dim), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    trajectory = learn_stream(learner, meta, s.support_x, s.support_y, 2)
    phi, expected = meta["init"], []
    for t in range(3):
        phi = inner_loop(learner, {**meta, "init": phi}, s.support_x[t], s.support_y[t], 2).phi
        got = jax.tree.map(lambda a, t=t: a[t], trajectory)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(phi), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        expected.append([learner.loss(meta, phi, s.query_x[j], s.query_y[j]) for j in range(3)])
    np.testing.assert_allclose(retention_matrix(learner, meta, s, 2), np.array(expected),
                               rtol=1e-5)


def test_stream_meta_gradient_matches_finite_differences(x64):
    dist, streams = _stream()
    streams = jax.tree.map(lambda a: a.astype(jnp.float64), streams)
    learner = LEARNERS["maml"](_net(dist.input_dim), 0.1)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), learner.init(jax.random.PRNGKey(1)))
    est = stream_backprop()
    _, grad, _ = jax.jit(lambda m: est.estimate(learner, m, streams, None, 2))(meta)
    flat, unravel = ravel_pytree(meta)
    eps = 1e-6
    loss = jax.jit(jax.vmap(lambda e: (est.estimate(learner, unravel(flat + e), streams, None, 2)[0]
                                       - est.estimate(learner, unravel(flat - e), streams, None,
                                                      2)[0]) / (2 * eps)))
    fd = loss(eps * jnp.eye(flat.size))
    np.testing.assert_allclose(ravel_pytree(grad)[0], fd, rtol=1e-6, atol=1e-9)


def test_stream_estimate_is_the_same_under_every_task_map(x64):
    """One stream at a time (``map``, what a conv net uses on CPU) or all at once (``vmap``):
    the same loss and meta-gradient."""
    dist, streams = _stream()
    streams = jax.tree.map(lambda a: a.astype(jnp.float64), streams)
    learner = LEARNERS["sparse-maml"](_net(dist.input_dim), 0.1)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), learner.init(jax.random.PRNGKey(1)))
    (l_v, g_v, _), (l_m, g_m, _) = (
        jax.jit(lambda m, tm=tm: stream_backprop(False, tm).estimate(learner, m, streams, None,
                                                                      2))(meta)
        for tm in ("vmap", "map"))
    np.testing.assert_allclose(l_m, l_v, rtol=1e-12)
    for a, b in zip(jax.tree.leaves(g_m), jax.tree.leaves(g_v), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="task mapping"):
        stream_backprop(False, "loop")


def test_bad_options_fail_before_compute():
    with pytest.raises(BadInput, match="--methods"):
        continual.SparseContinualConfig(methods=("nope",))
    with pytest.raises(BadInput, match="--n-functions"):
        continual.SparseContinualConfig(n_functions=1)
    with pytest.raises(BadInput, match="--methods"):
        where_to_learn.WhereToLearnConfig(methods=("protonet",))
    with pytest.raises(BadInput, match="--learner"):
        SinusoidConfig(learner="nope")
    assert SinusoidConfig(learner="sparse-maml").resolved().methods == ("sparse-maml",)


@pytest.mark.slow
def test_where_to_learn_few_shot_on_digits(tmp_path):
    cfg = where_to_learn.WhereToLearnConfig(
        problems=("omniglot-1shot",), methods=("maml", "sparse-maml"), dataset="digits",
        fs_steps=4, fs_meta_batch=2, width=4, eval_episodes=100, log_every=2,
        checkpoint_every=4, test_alphabets=3, seeds=1)
    summary = where_to_learn.run(cfg, RunDir(tmp_path))
    assert 0.0 <= summary["omniglot-1shot/sparse-maml/test_accuracy"] <= 1.0
    assert "omniglot-1shot/sparse-maml/update_fraction/head.w" in summary
