"""``metalab.load_run``: a finished ``metalab run sinusoid`` folder back in Python, adapted to a
new task; unfinished, missing and hook-less runs refused with a clear message."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import metalab
from metalab.cli import main
from metalab.errors import BadInput
from metalab.evaluation import adapt
from metalab.experiments.sinusoid.experiment import parts, rates
from metalab.tasks import Sinusoid
from metalab.training import Checkpointer, init_state

TINY = ["--methods", "maml", "--steps", "20", "--hidden", "16", "--meta-batch", "4",
        "--eval-tasks", "100", "--eval-query", "10", "--log-every", "20",
        "--checkpoint-every", "20"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny sinusoid run, written through the CLI in-process."""
    out = tmp_path_factory.mktemp("runs") / "sinusoid"
    assert main(["run", "sinusoid", *TINY, "--out", str(out)]) == 0
    return out


def test_loaded_run_matches_checkpoint_and_adapts(finished):
    """The settings are the run's, the meta-parameters equal the whole TrainState restored
    with the run's outer optimiser, and ten inner steps on a new task lower its query loss."""
    run = metalab.load_run(finished)
    assert run.experiment == "sinusoid" and run.config.steps == 20
    assert set(run.learners) == {"maml"}
    learner, optimizer = parts("maml", run.config, rates(run.config))
    like = init_state(learner, optimizer, jax.random.PRNGKey(3))
    state = Checkpointer(finished / "checkpoints" / "maml").restore(like)
    assert int(state.step) == 20
    learner, meta = run.trained()  # the one stage
    assert jax.tree.structure(meta) == jax.tree.structure(state.meta)
    for a, b in zip(jax.tree.leaves(meta), jax.tree.leaves(state.meta), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(jax.tree.leaves(meta)[0], jax.tree.leaves(like.meta)[0])

    task = Sinusoid(10, 50).sample(jax.random.PRNGKey(123), 1)
    task = jax.tree.map(lambda a: a[0], task)
    phi = adapt(learner, meta, task, 10)
    before = learner.loss(meta, learner.start(meta), task.query_x, task.query_y)
    after = learner.loss(meta, phi, task.query_x, task.query_y)
    assert float(after) < float(before)


def test_stage_must_be_named_when_several(finished):
    run = metalab.load_run(finished)
    two = dataclasses.replace(run, learners={**run.learners, "other": run.learners["maml"]})
    with pytest.raises(BadInput, match="stages: maml, other"):
        two.trained()
    assert two.trained("maml")[0] is run.learners["maml"]


def test_unfinished_missing_and_hookless_runs_refused(finished, tmp_path):
    with pytest.raises(BadInput, match="no config.json"):
        metalab.load_run(tmp_path / "nowhere")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((finished / "config.json").read_text())
    (unfinished / "INCOMPLETE").write_text("")
    with pytest.raises(BadInput, match="unfinished run.*--resume"):
        metalab.load_run(unfinished)
    (unfinished / "INCOMPLETE").unlink()
    with pytest.raises(BadInput, match="no checkpoint for stage 'maml'"):
        metalab.load_run(unfinished)
    hookless = tmp_path / "hookless"
    hookless.mkdir()
    (hookless / "config.json").write_text(json.dumps({"experiment": "effort-gain",
                                                      "config": {}}))
    with pytest.raises(BadInput, match="no `learners` hook"):
        metalab.load_run(hookless)


def test_omniglot_hook_rebuilds_its_one_stage():
    """The omniglot hook names the stage ``run`` checkpoints (the learner) and rebuilds a
    learner whose meta-parameters have the checkpointed state's structure."""
    from metalab.experiments import EXPERIMENTS
    from metalab.experiments.fewshot.omniglot import OmniglotConfig, initial_state

    cfg = OmniglotConfig(dataset="digits", learner="metasgd", width=8).resolved()
    learners = EXPERIMENTS["omniglot"].learners(cfg)
    assert list(learners) == ["metasgd"]
    meta = learners["metasgd"].init(jax.random.PRNGKey(0))
    assert jax.tree.structure(meta) == jax.tree.structure(initial_state(cfg).meta)
