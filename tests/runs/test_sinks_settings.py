"""Metric sinks receive the run's settings (W&B config, MLflow params, TensorBoard hparams),
W&B takes a project and entity, and figures can be PDF or SVG; the sinks are fakes."""

import dataclasses
import json
import sys
import types

import pytest

from metalab.cli import RunOptions, _resumed_config, _run_settings
from metalab.errors import BadInput
from metalab.experiments import EXPERIMENTS
from metalab.runs import sinks
from metalab.runs.claim import open_run
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


def fake_wandb(calls):
    class Config:
        def update(self, values, allow_val_change=False):
            calls.append(("config", values))

    class Run:
        config = Config()

        def log(self, values):
            calls.append(("log", values))

        def finish(self):
            calls.append(("finish",))

    return types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw)) or Run())


def test_flat_settings_keeps_scalars_and_writes_the_rest_as_text():
    flat = sinks.flat_settings({"steps": 5, "lr": 0.1, "ok": True, "name": "a",
                                "hidden": (40, 40), "extra": None, "nested": {"x": 1}})
    assert flat == {"steps": 5, "lr": 0.1, "ok": True, "name": "a", "hidden": "[40, 40]",
                    "extra": "None", "nested.x": 1}


def test_wandb_project_and_entity_come_from_options_then_environment(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(calls))
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    monkeypatch.setenv("WANDB_ENTITY", "lab")
    sinks.WandB(tmp_path / "a", "sinusoid")
    sinks.WandB(tmp_path / "b", "sinusoid", project="mine", entity="me")
    monkeypatch.delenv("WANDB_PROJECT")
    monkeypatch.delenv("WANDB_ENTITY")
    plain = sinks.WandB(tmp_path / "c", "sinusoid")
    inits = [kw for name, kw, *_ in calls if name == "init"]
    assert [(kw["project"], kw["entity"]) for kw in inits] == [
        ("from-env", "lab"), ("mine", "me"), ("metalab", None)]
    assert plain.options == {"project": "metalab"}


def test_every_sink_receives_the_settings_written_to_config_json(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(calls))
    mlflow = types.SimpleNamespace(
        set_tracking_uri=lambda uri: None, set_experiment=lambda name: None,
        start_run=lambda run_name: None, end_run=lambda: None,
        log_params=lambda values: calls.append(("params", values)))
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)

    class Writer:
        def __init__(self, logdir):
            pass

        def add_hparams(self, hparams, metrics, name=None):
            calls.append(("hparams", hparams, metrics))

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=Writer))
    config = EXPERIMENTS["sinusoid"].config(steps=7, hidden=(8, 8))
    opened = sinks.open_sinks(["wandb", "mlflow", "tensorboard"], tmp_path, "sinusoid")
    RunDir(tmp_path, sinks=opened).write_config("sinusoid", config)
    settings = {name: values for name, values, *_ in calls if name != "init"}
    assert settings["config"]["experiment"] == "sinusoid"
    assert settings["config"]["steps"] == 7 and settings["config"]["hidden"] == "[8, 8]"
    assert settings["hparams"] == settings["config"]
    assert settings["params"]["steps"] == "7" and settings["params"]["hidden"] == "[8, 8]"
    assert set(settings["params"]) == set(settings["config"])


def test_sink_options_and_figure_format_survive_a_resume(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(calls))
    folder = tmp_path / "run"
    opts = RunOptions(out=folder, log=("wandb",), wandb_project="proj", wandb_entity="team",
                      figure_format="svg")
    config = EXPERIMENTS["sinusoid"].config(steps=7)
    with pytest.raises(KeyboardInterrupt):  # stopped before it finished: resumable
        with open_run(folder, resume=False, experiment="sinusoid",
                      **_run_settings(opts)) as rundir:
            rundir.write_config("sinusoid", config)
            raise KeyboardInterrupt
    saved = json.loads((folder / "config.json").read_text())
    assert saved["log_options"] == {"wandb": {"project": "proj", "entity": "team"}}
    resume = RunOptions(resume=folder)
    _, _, settings = _resumed_config(EXPERIMENTS["sinusoid"], resume, [])
    assert settings == {"max_loss": None, "log": ("wandb",), "figure_format": "svg",
                        "log_options": {"wandb": {"project": "proj", "entity": "team"}}}


def test_wandb_options_without_the_wandb_sink_are_refused():
    with pytest.raises(BadInput, match="--wandb-project: applies to the W&B sink only"):
        _run_settings(RunOptions(wandb_project="proj"))
    with pytest.raises(BadInput, match="--resume: takes the configuration"):
        _resumed_config(EXPERIMENTS["sinusoid"],
                        dataclasses.replace(RunOptions(resume=None), figure_format="pdf",
                                            resume="x"), [])


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<svg")])
def test_figures_are_written_in_the_chosen_format(tmp_path, fmt, magic):
    rundir = RunDir(tmp_path, figure_format=fmt)
    fig, ax = subplots(1, 1)
    ax.plot([0, 1], [1, 0])
    assert rundir.save_figure(fig, "curve") == f"curve.{fmt}"
    data = (tmp_path / f"curve.{fmt}").read_bytes()
    assert data.startswith(magic) or magic in data[:400]
    assert rundir.figures == [f"curve.{fmt}"]
