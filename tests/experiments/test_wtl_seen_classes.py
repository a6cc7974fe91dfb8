"""The class-incremental accuracy matrix predicts only among the classes seen so far, and
forgetting is positive when later learning makes a task worse, for accuracies and losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis.retention import accuracy_matrix, stream_scores
from metalab.learners import LEARNERS
from metalab.models.base import Model
from metalab.tasks.base import Task

T = 4


def _label_reader() -> Model:
    """Logits that rank the example's own class (its input) first among all but the last
    class, which outranks everything: only masking unseen classes lets the label win."""
    def apply(params, x):
        label = x[..., 0].astype(jnp.int32)
        fixed = jax.nn.one_hot(label, T) + 5.0 * (jnp.arange(T) == T - 1)[None]
        return fixed + 0.0 * params["w"]

    return Model(lambda key: {"w": jnp.zeros(())}, apply)


def test_accuracy_matrix_predicts_among_the_classes_seen_so_far():
    learner = LEARNERS["maml"](_label_reader(), 0.1, "cross_entropy")
    meta = learner.init(jax.random.PRNGKey(0))
    labels = jnp.broadcast_to(jnp.arange(T)[:, None], (T, 3))  # task t: class t
    x = labels[..., None].astype(jnp.float32)
    got = np.asarray(accuracy_matrix(learner, meta, Task(x, labels, x, labels), 1))
    want = np.tril(np.ones((T, T)))
    want[T - 1] = np.eye(T)[T - 1]  # once the last class is seen, it outranks every label
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_forgetting_is_positive_when_a_task_gets_worse(higher_is_better):
    after_each = np.array([[0.9, 0.0], [0.6, 0.8]])  # task 0: 0.9 when learned, 0.6 at the end
    worse = after_each if higher_is_better else 1.0 - after_each  # as losses: 0.1 then 0.4
    assert stream_scores(worse, higher_is_better)["forgetting"] == pytest.approx(0.3)
    improved = np.array([[0.6, 0.0], [0.9, 0.8]])  # task 0 got better: negative forgetting
    better = improved if higher_is_better else 1.0 - improved
    assert stream_scores(better, higher_is_better)["forgetting"] == pytest.approx(-0.3)
