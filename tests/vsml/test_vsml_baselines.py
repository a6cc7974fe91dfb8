"""VS-ML's gradient baselines are online learners built on optax (``learners.online_gradient``):
online SGD through a tanh hidden layer and the cloning teacher equal their updates written out
by hand in numpy (float64), prediction by prediction and in online accuracy."""

import jax
import numpy as np

from metalab.learners.online import online_correct, run_stream
from metalab.tasks.online import Stream
from metalab.vsml import online_sgd, teacher_sgd

N_IN, N_OUT, T = 5, 3, 30


def _stream() -> Stream:
    k_x, k_l = jax.random.split(jax.random.PRNGKey(0))
    return Stream(jax.random.normal(k_x, (T, N_IN)), jax.random.randint(k_l, (T,), 0, N_OUT))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _check(learner, meta, key, stream, want_logits):
    got = run_stream(learner, meta, key, stream, N_OUT)
    np.testing.assert_allclose(got, want_logits, rtol=1e-5, atol=1e-5)
    want_correct = np.argmax(want_logits, -1) == np.asarray(stream.labels)
    np.testing.assert_array_equal(online_correct(learner, meta, key, stream, N_OUT),
                                  want_correct)
    assert 0 < want_correct.sum() < T


def test_online_sgd_with_a_hidden_layer_equals_backprop_written_out():
    lr, hidden, key, stream = 0.4, 6, jax.random.PRNGKey(1), _stream()
    learner = online_sgd(lr, (hidden,))
    meta = learner.init(key)
    params, _ = learner.start(meta, key, N_IN, N_OUT)
    w1, b1 = (np.asarray(params[0][k], np.float64) for k in ("w", "b"))
    w2, b2 = np.zeros((hidden, N_OUT)), np.zeros(N_OUT)
    logits = []
    for x, label in zip(np.asarray(stream.x, np.float64), np.asarray(stream.labels),
                        strict=True):
        h = np.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        logits.append(z)
        e = _softmax(z) - np.eye(N_OUT)[label]
        dh = (w2 @ e) * (1 - h * h)
        w2, b2, w1, b1 = w2 - lr * np.outer(h, e), b2 - lr * e, w1 - lr * np.outer(x, dh), \
            b1 - lr * dh
    _check(learner, meta, key, stream, np.stack(logits))


def test_teacher_is_sgd_on_the_mean_layer_at_rate_alpha_per_weight():
    # w <- w - alpha tanh(x) e, b <- b - alpha e (alpha absorbs the layer's 1/n_in)
    alpha, key, stream = 0.5, jax.random.PRNGKey(2), _stream()
    teacher = teacher_sgd(alpha)
    meta = teacher.init(key)
    (w, b), _ = teacher.start(meta, key, N_IN, N_OUT)
    w, b = np.asarray(w, np.float64), np.asarray(b, np.float64)
    logits = []
    for x, label in zip(np.asarray(stream.x, np.float64), np.asarray(stream.labels),
                        strict=True):
        z = np.tanh(x) @ w / N_IN + b
        logits.append(z)
        e = _softmax(z) - np.eye(N_OUT)[label]
        w, b = w - alpha * np.outer(np.tanh(x), e), b - alpha * e
    _check(teacher, meta, key, stream, np.stack(logits))
