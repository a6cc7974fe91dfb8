"""Continual streams without leaks (von Oswald et al. 2021, sec. 5): the sine stream without the
function index, class-incremental streams, the accuracy matrix against a loop over tasks, and
the scores of a known matrix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis.retention import accuracy_matrix, seen_curve, stream_scores
from metalab.learners import LEARNERS, inner_loop
from metalab.models import Model
from metalab.tasks.episodes import Episodes
from metalab.tasks.sine_stream import SineStream
from metalab.tasks.streams import ClassStream, SineWithoutIndex


def test_sine_stream_without_index_drops_only_the_index():
    key = jax.random.PRNGKey(0)
    full = SineStream(4, 3, 3).sample(key, 2)
    bare = SineWithoutIndex(SineStream(4, 3, 3))
    s = bare.sample(key, 2)
    assert bare.input_dim == 1 and s.support_x.shape == (2, 4, 3, 1)
    np.testing.assert_array_equal(s.support_x, full.support_x[..., :1])
    np.testing.assert_array_equal(s.query_y, full.query_y)


def _pool(n_classes: int = 6, per: int = 4, size: int = 3) -> np.ndarray:
    """Class c's images are filled with the value 40 c (so the class is readable off a pixel)."""
    v = (40 * np.arange(n_classes, dtype=np.uint8))[:, None, None, None, None]
    return np.broadcast_to(v, (n_classes, per, size, size, 1)).copy()


def test_class_stream_one_new_class_per_task_with_its_index_as_label():
    stream = ClassStream(Episodes(jnp.asarray(_pool()), 3, 2, 2))
    s = stream.sample(jax.random.PRNGKey(1), 5)
    assert s.support_x.shape == (5, 3, 2, 3, 3, 1) and s.query_y.shape == (5, 3, 2)
    np.testing.assert_array_equal(s.support_y, np.broadcast_to(np.arange(3)[None, :, None],
                                                               (5, 3, 2)))
    cls = np.asarray(s.support_x[..., 0, 0, 0] * 255 / 40).round()  # [5, 3, 2] class ids
    assert np.all(cls == cls[..., :1])  # one class per task
    assert all(len(set(row[:, 0])) == 3 for row in cls)  # distinct classes in a stream
    np.testing.assert_array_equal(np.asarray(s.query_x[..., 0, 0, 0] * 255 / 40).round(), cls)


def _linear(n_out: int) -> Model:
    def init(key):
        return {"w": jax.random.normal(key, (9, n_out)) * 0.1, "b": jnp.zeros((n_out,))}

    return Model(init, lambda p, x: x.reshape(x.shape[0], -1) @ p["w"] + p["b"][None])


def test_accuracy_matrix_matches_a_loop_over_tasks():
    stream = ClassStream(Episodes(jnp.asarray(np.random.default_rng(0).integers(
        0, 255, (6, 4, 3, 3, 1), dtype=np.uint8)), 3, 2, 2))
    s = jax.tree.map(lambda a: a[0], stream.sample(jax.random.PRNGKey(2), 1))
    learner = LEARNERS["sparse-maml"](_linear(3), 0.5, "cross_entropy")
    meta = learner.init(jax.random.PRNGKey(3))
    got = np.asarray(accuracy_matrix(learner, meta, s, 2))
    phi = meta["init"]
    for t in range(3):
        phi = inner_loop(learner, {**meta, "init": phi}, s.support_x[t], s.support_y[t], 2).phi
        for j in range(3):
            logits = np.asarray(learner.predict(meta, phi, s.query_x[j]))[:, : t + 1]
            want = 0.0 if j > t else np.mean(logits.argmax(-1) == j)
            assert got[t, j] == pytest.approx(want)


def test_scores_of_known_matrices():
    acc = np.array([[1.0, 0.0, 0.0], [0.5, 0.9, 0.0], [0.25, 0.5, 0.8]])
    got = stream_scores(acc, higher_is_better=True)
    assert got["retained"] == pytest.approx((0.25 + 0.5 + 0.8) / 3)
    assert got["learned"] == pytest.approx((1 + 0.9 + 0.8) / 3)
    assert got["forgetting"] == pytest.approx(((1 - 0.25) + (0.9 - 0.5)) / 2)
    np.testing.assert_allclose(seen_curve(acc), [1.0, 0.7, (0.25 + 0.5 + 0.8) / 3])


def test_scores_of_a_known_matrix():
    """Retained, learned and forgetting by hand, with the unit in the score keys."""
    r = np.array([[1.0, 9.0, 9.0], [2.0, 1.0, 9.0], [4.0, 3.0, 0.5]])
    got = stream_scores(r, higher_is_better=False, unit="mse")
    assert got["retained_mse"] == pytest.approx((4 + 3 + 0.5) / 3)
    assert got["learned_mse"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert got["forgetting"] == pytest.approx(((4 - 1) + (3 - 1)) / 2)
