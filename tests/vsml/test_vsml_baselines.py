"""VS-ML's gradient baselines are online learners built on optax (``learners.online_gradient``):
online SGD through a tanh hidden layer and the cloning teacher equal their updates written out
by hand in numpy (float64), prediction by prediction and in online accuracy; Meta-SGD at its
starting rates equals that SGD; the label-frequency floor equals its count written out."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners.online import online_correct, run_stream
from metalab.tasks.online import Stream
from metalab.vsml import label_frequency, matched_hidden, meta_sgd, online_sgd, teacher_sgd

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


def test_label_frequency_predicts_the_most_frequent_label_so_far():
    stream, key = _stream(), jax.random.PRNGKey(3)
    labels = np.asarray(stream.labels)
    counts, want = np.zeros(N_OUT), []
    for label in labels:
        want.append(np.argmax(counts) == label)  # ties: the lowest label, as argmax
        counts[label] += 1
    learner = label_frequency()
    got = online_correct(learner, learner.init(key), key, stream, N_OUT)
    np.testing.assert_array_equal(got, np.asarray(want, np.float32))


def test_meta_sgd_at_its_starting_rates_is_online_sgd_and_reads_each_rate():
    # the online SGD it equals is itself checked against backprop written out (above)
    lr, hidden, key, stream = 0.4, 6, jax.random.PRNGKey(4), _stream()
    learner = meta_sgd(N_IN + 2, N_OUT + 2, (hidden,), lr)  # larger than the stream: cut down
    meta = learner.init(key)
    sgd = online_sgd(lr, (hidden,))
    sgd_meta = sgd.init(key)
    (params, _), (start, rates) = sgd.start(sgd_meta, key, N_IN, N_OUT), learner.start(
        meta, key, N_IN, N_OUT)
    assert jax.tree.map(np.shape, start) == jax.tree.map(np.shape, params)
    np.testing.assert_allclose(rates[0]["w"], lr, rtol=1e-6)
    meta_on_sgd = {**meta, "init": [{"w": jnp.pad(p["w"], ((0, 2), (0, 0)) if i == 0 else
                                                  ((0, 0), (0, 2))),
                                     "b": p["b"] if i == 0 else jnp.pad(p["b"], (0, 2))}
                                    for i, p in enumerate(params)]}
    np.testing.assert_allclose(run_stream(learner, meta_on_sgd, key, stream, N_OUT),
                               run_stream(sgd, sgd_meta, key, stream, N_OUT), rtol=1e-5,
                               atol=1e-6)
    frozen = {**meta_on_sgd, "log_lr": [{"w": jnp.full_like(p["w"], -jnp.inf),
                                         "b": jnp.full_like(p["b"], -jnp.inf)}
                                        for p in meta["log_lr"]]}  # every rate 0: no learning
    logits = run_stream(learner, frozen, key, stream, N_OUT)
    np.testing.assert_allclose(logits, 0.0)  # the output layer starts at zero and stays


def test_matched_hidden_has_about_the_rules_fast_state():
    h = matched_hidden(16, 5, 16 * 5)
    assert h == 116 and abs(h * (16 + 5 + 1) + 5 - 2 * 16 * 80) <= 16 + 5 + 1
