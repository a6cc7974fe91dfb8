"""``--regime paper`` presets (contrastive Omniglot, VS-ML): the paper's settings fill every
option left at its default, options given win, and each preset builds and runs two
meta-steps on CPU (with the phases or streams shortened: the full ones are GPU jobs)."""

import json
from pathlib import Path

import pytest

from metalab.cli import main
from metalab.experiments.contrastive.experiment import PAPER as CONTRASTIVE
from metalab.experiments.contrastive.experiment import ContrastiveConfig
from metalab.experiments.vsml.experiment import VSMLConfig
from metalab.experiments.vsml.paper import PAPER as VSML
from metalab.runs.experiment import preset
from metalab.runs.scoreboard import regime

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "omniglot"


@pytest.mark.parametrize("config,paper,own", [
    (ContrastiveConfig, CONTRASTIVE, {"omniglot_steps": 2, "width": 8}),
    (VSMLConfig, VSML, {"population": 4, "stream_steps": 5}),
])
def test_paper_regime_fills_defaults_and_keeps_given_options(config, paper, own):
    assert config().resolved() == config()  # the default regime changes nothing
    full = config(regime="paper").resolved()
    assert {k: getattr(full, k) for k in paper} == paper and regime(full) == "paper"
    mixed = config(regime="paper", **own).resolved()
    assert {k: getattr(mixed, k) for k in paper} == {**paper, **own}
    assert mixed.resolved() == mixed  # resolving twice (a resumed run) changes nothing


def test_preset_names_an_unknown_field():
    with pytest.raises(ValueError, match="no_such"):
        preset(VSMLConfig(), {"no_such": 1})


def _run(args: list[str], out: Path) -> dict:
    """config.json of ``metalab run ARGS --out out`` (exit code 0)."""
    try:
        code = main(["run", *args, "--out", str(out)])
    except SystemExit as e:
        code = int(e.code)
    assert code == 0
    return json.loads((out / "config.json").read_text())["config"]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/datasets/omniglot")
def test_contrastive_paper_preset_runs_two_meta_steps(tmp_path):
    """The paper's 64-filter conv net and 15 queries per class, two meta-steps of a 2-episode
    batch with 2 free and 1 nudged step (the paper's 200 / 100 are a GPU job)."""
    config = _run(["contrastive", "--regime", "paper", "--data", str(SHARED), "--problems",
                   "omniglot-5w1s", "--synapses", "complex-synapse-fixed-lambda",
                   "--estimators", "contrastive-symmetric", "--seeds", "2", "--omniglot-steps",
                   "2", "--meta-batch-5way", "2", "--inner-steps", "2", "--nudged-steps", "1",
                   "--eval-episodes", "10", "--log-every", "1", "--checkpoint-every", "2"],
                  tmp_path)
    assert config["width"] == 64 and config["q_query"] == 15 and config["omniglot_steps"] == 2
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert 0 <= summary["omniglot-5w1s/complex-synapse-fixed-lambda/contrastive-symmetric/"
                       "test_accuracy"] <= 1


@pytest.mark.slow
def test_vsml_paper_preset_runs_two_meta_steps(tmp_path):
    """The paper's 784 -> 10 layer trained by ES, two meta-steps of 2 pairs on 20-example
    streams (the paper's 1,024 pairs on 500-example streams are a GPU job)."""
    config = _run(["vsml", "--regime", "paper", "--train-on", "sum", "--families", "sum",
                   "--no-compare", "--baselines", "untrained", "--steps", "2", "--seeds", "2",
                   "--population", "2", "--stream-steps", "20", "--eval-steps", "20",
                   "--eval-streams", "2", "--log-every", "1", "--checkpoint-every", "2"],
                  tmp_path)
    assert (config["n_in"], config["n_classes"], config["meta_optimizer"]) == (784, 10, "es")
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "step" in r] == [1, 2]
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert 0 <= summary["vsml/sum/online_accuracy"] <= 1
