"""``runs.validation.train_seeds_best``: each seed's best validation checkpoint, early stopping
on the mean over seeds, and resume, checked on a descent with a closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalab.runs.rundir import RunDir
from metalab.runs.validation import best_of, train_seeds_best, validation_curves, waited
from metalab.training.seeds import seed_keys
from metalab.training.state import TrainState

LR = 0.05  # w_t = 1 + (w_0 - 1) * 0.9^t
PASS = np.array([4, 12])  # seed s is validated best where w crosses its target, at step PASS[s]


def _init(key):
    w0 = jax.random.normal(key, ()) + 3.0
    return TrainState(w0, optax.sgd(1.0).init(w0), jnp.zeros((), jnp.int32))


def _make_step(key):
    def step(state):
        loss, grad = jax.value_and_grad(lambda w: (w - 1.0) ** 2)(state.meta)
        return TrainState(state.meta - LR * grad, state.opt_state, state.step + 1), {
            "loss": loss}
    return step


def _starts():
    return np.array([float(jax.random.normal(k, ())) + 3.0 for k in seed_keys(7, 2)[0]])


def _targets():
    return 1.0 + (_starts() - 1.0) * 0.9 ** PASS


def _run(path, resume=False, patience=3, fail_at=None):
    calls = []

    def validate(metas):
        w = np.asarray(metas)
        calls.append(w)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt  # an interruption in the middle of training
        return -((w - _targets()) ** 2)

    best = train_seeds_best(RunDir(path, resume=resume), "toy", _init, _make_step, 2, seed=7,
                            steps=40, chunk=2, checkpoint_every=4, every=2, validate=validate,
                            patience=patience)
    return best, calls


def test_each_seed_keeps_its_best_and_the_mean_stops_training(tmp_path):
    """Seed s is best at step PASS[s] (where w equals its target, closed form); the mean over
    seeds last improves at 12, so patience 3 stops at 18, before the 40 allowed."""
    best, calls = _run(tmp_path)
    np.testing.assert_array_equal(best.steps, PASS)
    np.testing.assert_allclose(best.metas, _targets(), rtol=1e-5)
    assert best.stopped == 18 and best.early and len(calls) == 9
    assert [s for s, _ in best.history] == list(range(2, 20, 2))


def test_without_patience_it_trains_every_step(tmp_path):
    best, calls = _run(tmp_path, patience=None)
    assert best.stopped == 40 and not best.early and len(calls) == 20
    np.testing.assert_array_equal(best.steps, PASS)


def test_a_finished_stage_is_not_trained_again(tmp_path):
    first, _ = _run(tmp_path)
    again, calls = _run(tmp_path, resume=True)
    assert calls == [] and again.cost.steps == 0 and again.stopped == first.stopped
    np.testing.assert_array_equal(again.metas, first.metas)


def test_an_interrupted_stage_resumes_to_the_same_record(tmp_path):
    """Interrupted at the 4th validation (step 8: the training checkpoint is at 4, the record
    at 6), the resumed run ends with the record of an uninterrupted one."""
    whole, _ = _run(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", fail_at=4)
    resumed, calls = _run(tmp_path / "cut", resume=True)
    assert resumed.history == whole.history and resumed.stopped == whole.stopped
    np.testing.assert_allclose(resumed.metas, whole.metas, rtol=1e-6)
    assert len(calls) == len(whole.history) - 3  # steps 2, 4, 6 were not validated again


def test_best_of_and_waited_read_the_history():
    history = [(10, [0.1, 0.5]), (20, [0.3, 0.5]), (30, [0.2, 0.4])]
    scores, steps = best_of(history)
    np.testing.assert_array_equal(scores, [0.3, 0.5])
    np.testing.assert_array_equal(steps, [20, 10])  # a tie keeps the earlier
    assert waited(history) == 1 and waited(history[:2]) == 0


def test_validation_curves_draw_the_mean_over_seeds():
    fig = validation_curves({"1-shot": {"a": [(10, [0.2, 0.4]), (20, [0.5, 0.7])],
                                        "b": [(10, [0.1, 0.1])]}, "5-shot": {"a": [(5, [1.0])]}})
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["a", "b"] and len(right.lines) == 1
    np.testing.assert_allclose(left.lines[0].get_ydata(), [0.3, 0.6])
    np.testing.assert_array_equal(left.lines[0].get_xdata(), [10, 20])
