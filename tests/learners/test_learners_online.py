"""The online learner contract (``learners/online.py``) and the online gradient steps built on
optax (``learners/online_gradient.py``, ``learners/reinforce.py``), each against the update
written out by hand in numpy (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalab.learners import (
    OnlineLearner,
    online_correct,
    online_gradient,
    run_stream,
    scale_by_fan_in,
)
from metalab.learners.reinforce import reinforce_start, reinforce_update
from metalab.tasks.online import Stream

N_IN, N_OUT, T = 4, 3, 12


def _stream(seed: int = 0) -> Stream:
    k_x, k_l = jax.random.split(jax.random.PRNGKey(seed))
    return Stream(jax.random.normal(k_x, (T, N_IN)), jax.random.randint(k_l, (T,), 0, N_OUT))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _linear(direction: optax.GradientTransformation, lr: float) -> OnlineLearner:
    def init_params(key, n_in, n_out):
        return {"w": jax.random.normal(key, (n_in, n_out)) * 0.3, "b": jnp.zeros((n_out,))}

    return online_gradient("linear", init_params, lambda p, x: x @ p["w"] + p["b"], direction,
                           lr)


def _numpy_run(w, b, stream, step):
    """Logits [T, n_out] of a linear softmax classifier updated by ``step(w, b, gw, gb, t)``
    after each prediction, with the cross-entropy gradient (outer(x, e), e) written out."""
    logits = []
    for t, (x, label) in enumerate(zip(np.asarray(stream.x, np.float64),
                                       np.asarray(stream.labels), strict=True)):
        z = x @ w + b
        logits.append(z)
        e = _softmax(z) - np.eye(N_OUT)[label]
        w, b = step(w, b, np.outer(x, e), e, t + 1)
    return np.stack(logits)


def test_online_sgd_equals_sgd_written_out():
    lr, stream, key = 0.7, _stream(), jax.random.PRNGKey(1)
    learner = _linear(optax.identity(), lr)
    meta = learner.init(key)
    got = run_stream(learner, meta, key, stream, N_OUT)
    (p, _) = learner.start(meta, key, N_IN, N_OUT)
    want = _numpy_run(np.asarray(p["w"], np.float64), np.zeros(N_OUT), stream,
                      lambda w, b, gw, gb, t: (w - lr * gw, b - lr * gb))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.ptp(np.asarray(got)[-1]) > 0.1  # it learned something


def test_online_adam_equals_adam_written_out():
    lr, b1, b2, eps, stream, key = 0.05, 0.9, 0.999, 1e-8, _stream(1), jax.random.PRNGKey(2)
    learner = _linear(optax.scale_by_adam(), lr)
    meta = learner.init(key)
    got = run_stream(learner, meta, key, stream, N_OUT)
    (p, _) = learner.start(meta, key, N_IN, N_OUT)
    moments = {"m": [0.0, 0.0], "v": [0.0, 0.0]}

    def adam(w, b, gw, gb, t):
        out = []
        for i, (param, g) in enumerate(((w, gw), (b, gb))):
            moments["m"][i] = b1 * moments["m"][i] + (1 - b1) * g
            moments["v"][i] = b2 * moments["v"][i] + (1 - b2) * g * g
            m_hat = moments["m"][i] / (1 - b1**t)
            v_hat = moments["v"][i] / (1 - b2**t)
            out.append(param - lr * m_hat / (np.sqrt(v_hat) + eps))
        return tuple(out)

    want = _numpy_run(np.asarray(p["w"], np.float64), np.zeros(N_OUT), stream, adam)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_scale_by_fan_in_makes_a_mean_layer_step_like_a_sum_layer():
    # y = x w / n + b: with the fan-in scaling, w moves by lr outer(x, e), not lr outer(x, e) / n
    lr, stream, key = 0.5, _stream(2), jax.random.PRNGKey(3)
    learner = online_gradient(
        "mean", lambda k, n_in, n_out: (jnp.ones((n_in, n_out)) * 0.1, jnp.zeros((n_out,))),
        lambda p, x: x @ p[0] / x.shape[0] + p[1], scale_by_fan_in(), lr)
    meta = learner.init(key)
    got = run_stream(learner, meta, key, stream, N_OUT)
    w, b = np.full((N_IN, N_OUT), 0.1), np.zeros(N_OUT)
    want = []
    for x, label in zip(np.asarray(stream.x, np.float64), np.asarray(stream.labels),
                        strict=True):
        z = x @ w / N_IN + b
        want.append(z)
        e = _softmax(z) - np.eye(N_OUT)[label]
        w, b = w - lr * np.outer(x, e), b - lr * e
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-6)


def test_a_prediction_never_sees_its_own_label():
    learner = _linear(optax.identity(), 0.7)
    key, stream = jax.random.PRNGKey(4), _stream(3)
    meta = learner.init(key)
    t = 5
    relabelled = stream._replace(labels=stream.labels.at[t].set((stream.labels[t] + 1) % N_OUT))
    a, b = (run_stream(learner, meta, key, s, N_OUT) for s in (stream, relabelled))
    np.testing.assert_array_equal(a[: t + 1], b[: t + 1])
    assert not np.allclose(a[t + 1], b[t + 1])
    correct = online_correct(learner, meta, key, stream, N_OUT)
    np.testing.assert_array_equal(correct, np.argmax(a, -1) == np.asarray(stream.labels))


@pytest.mark.parametrize("lr", [0.3, 1.2])
def test_reinforce_step_is_the_score_function_update(lr):
    # linear softmax policy: grad log pi(a | x) w.r.t. W [d, arms] is outer(x, onehot(a) - pi)
    k_w, k_x = jax.random.split(jax.random.PRNGKey(5))
    w = jax.random.normal(k_w, (N_IN, N_OUT))
    optimizer = optax.sgd(lr)
    state = reinforce_start(w, optimizer)._replace(baseline=jnp.asarray(0.25))
    x, action, reward = jax.random.normal(k_x, (N_IN,)), 2, jnp.asarray(1.5)
    new = reinforce_update(lambda p, v: v @ p, optimizer, state, x, action, reward, 0.1)
    xn, pi = np.asarray(x, np.float64), _softmax(np.asarray(x @ w, np.float64))
    score = np.outer(xn, np.eye(N_OUT)[action] - pi)
    np.testing.assert_allclose(new.params, np.asarray(w) + lr * (1.5 - 0.25) * score,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.baseline, 0.25 + 0.1 * (1.5 - 0.25), rtol=1e-6)
