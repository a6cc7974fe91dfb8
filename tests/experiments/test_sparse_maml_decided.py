"""``metalab run sparse-maml``: the paper regime's settings and a two-meta-step CPU run of it,
and the switched-off fractions its sparsity claim reads."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from metalab.analysis.sparsity import switched_off
from metalab.experiments.where_to_learn.decide import SparseMamlConfig, run
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import regime


def test_paper_regime_is_the_authors_scale_and_quick_is_smaller():
    """64 filters and up to 40,000 meta-steps validated every 500 on 500 episodes (the
    authors' conv-net runs); 35 first-order inner steps at 0.1 and mask Adam 0.0075 in every
    regime; --quick shrinks the default."""
    paper = SparseMamlConfig(regime="paper").resolved()
    assert (paper.width, paper.max_steps, paper.val_every, paper.val_episodes,
            paper.test_episodes) == (64, 40_000, 500, 500, 500)
    default = SparseMamlConfig().resolved()
    for cfg in (paper, default):
        assert (cfg.inner_steps, cfg.inner_lr, cfg.mask_lr, cfg.meta_batch) == (35, 0.1,
                                                                                 0.0075, 2)
    quick = SparseMamlConfig(quick=True).resolved()
    assert quick.max_steps < default.max_steps and quick.width < default.width
    assert regime(paper) == "paper" and regime(quick) == "quick"


def test_switched_off_counts_rates_at_or_below_zero():
    rates = {"a": {"w": np.array([[0.1, -0.2], [0.0, 0.3]])}, "b": np.array([1.0, 2.0])}
    got = switched_off(rates)
    assert got == {"a.w": 0.5, "b": 0.0, "all": 2 / 6}


@pytest.mark.slow
def test_paper_regime_builds_and_runs_two_meta_steps(tmp_path):
    """The paper regime's 64-filter net, 35 inner steps, MAML and sparse-MAML, trained two
    meta-steps on CPU (digits, budget cut to two steps), validated, tested and decided."""
    cfg = replace(SparseMamlConfig(regime="paper", dataset="digits", shots=(1,),
                                   methods=("maml", "sparse-maml"), seeds=2,
                                   val_characters=2, q_query=2).resolved(),
                  max_steps=2, val_every=2, log_every=2, checkpoint_every=2, val_episodes=50,
                  test_episodes=100)
    assert cfg.width == 64 and cfg.inner_steps == 35
    run(cfg, RunDir(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["omniglot-1shot/sparse-maml/meta_steps"] == 2
    (claim,) = summary["claims"]
    assert claim["id"] == "sparse-maml-over-maml/omniglot-1shot/sparse-maml"
    assert claim["n"] == 2 and claim["unit"] == "seeds"
