"""The researcher-facing extras: run help, config files, run metadata, metric sinks, compare."""

import json
import struct
import sys
import types

import numpy as np
import pytest

from metalab.cli import _config_file, _parse_config, main
from metalab.errors import BadInput
from metalab.experiments import EXPERIMENTS
from metalab.runs import sinks
from metalab.runs.compare import compare
from metalab.runs.rundir import RunDir


def cli(args):
    try:
        return main(args)
    except SystemExit as e:
        return e.code


def test_run_help_lists_run_options_and_experiment_fields(capsys):
    assert cli(["run", "sinusoid", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--out", "--resume", "--config", "--max-loss", "--log", "--steps",
                   "--inner-lr", "--quick"):
        assert option in text, option


@pytest.mark.parametrize("suffix", [".json", ".yaml", "run-folder"])
def test_config_file_gives_fields_and_options_override(tmp_path, suffix):
    experiment = EXPERIMENTS["sinusoid"]
    values = {"steps": 40, "hidden": [8, 8], "methods": ["maml"], "inner_lr": 0.05}
    if suffix == ".json":
        path = tmp_path / "c.json"
        path.write_text(json.dumps(values))
    elif suffix == ".yaml":
        path = tmp_path / "c.yaml"
        path.write_text("steps: 40\nhidden: [8, 8]\nmethods: [maml]\ninner_lr: 0.05\n")
    else:  # a run folder's config.json, as the run wrote it
        path = tmp_path / "run"
        path.mkdir()
        (path / "config.json").write_text(json.dumps(
            {"experiment": "sinusoid", "config": values, "environment": {"jax": "x"}}))
    base = _config_file(experiment, path)
    assert (base.steps, base.hidden, base.methods, base.inner_lr) == (40, (8, 8), ("maml",),
                                                                      0.05)
    config = _parse_config(experiment.config, ["--steps", "7"], "t", default=base)
    assert (config.steps, config.hidden, config.inner_lr) == (7, (8, 8), 0.05)


def test_config_json_records_the_environment(tmp_path):
    rundir = RunDir(tmp_path)
    rundir.write_config("sinusoid", EXPERIMENTS["sinusoid"].config(steps=3))
    env = json.loads((tmp_path / "config.json").read_text())["environment"]
    import jax

    assert env["jax"] == jax.__version__ and env["backend"] == jax.default_backend()
    assert env["devices"] == [{"kind": jax.devices()[0].device_kind,
                               "count": len(jax.devices())}]
    assert env["python"].count(".") == 2 and env["metalab"]
    assert env["git_commit"] is None or len(env["git_commit"].split("+")[0]) == 40


class Recorder:
    name = "recorder"

    def __init__(self):
        self.records, self.closed = [], False

    def write(self, record):
        self.records.append(record)

    def close(self):
        self.closed = True


def test_sinks_get_each_record_once_across_a_resume(tmp_path):
    first = Recorder()
    rundir = RunDir(tmp_path, sinks=[first])
    for step in (1, 2, 3):
        rundir.log({"stage": "maml", "step": step, "loss": 1.0 / step})
    again = Recorder()
    resumed = RunDir(tmp_path, resume=True, sinks=[again])
    for step in (1, 2, 3, 4):  # the resumed run logs the same lines, then a new one
        resumed.log({"stage": "maml", "step": step, "loss": 1.0 / step})
    assert [r["step"] for r in first.records] == [1, 2, 3]
    assert [r["step"] for r in again.records] == [4]


def test_scalars_name_stage_and_drop_non_numbers():
    step, values = sinks.scalars({"stage": "maml", "step": 5, "loss": 0.5, "ok": True,
                                  "note": "x", "bad": float("nan")})
    assert step == 5 and values == {"maml/loss": 0.5}


def _events(folder):
    """Scalars (tag, step, value) of every TensorBoard event file under ``folder``."""
    from tensorboardX.proto.event_pb2 import Event

    out = []
    for file in folder.rglob("events.out.tfevents.*"):
        data = file.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_tensorboard_sink_writes_readable_scalars(tmp_path):
    sinks.require(["tensorboard"])
    sink = sinks.TensorBoard(tmp_path, "sinusoid")
    sink.write({"stage": "maml", "step": 10, "loss": 0.25})
    sink.write({"stage": "maml", "step": 20, "loss": 0.125})
    sink.close()
    assert sorted(_events(tmp_path / "tensorboard")) == [("maml/loss", 10, 0.25),
                                                         ("maml/loss", 20, 0.125)]


def test_wandb_and_mlflow_sinks_call_their_apis(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, values):
            calls.append(("wandb.log", values))

        def finish(self):
            calls.append(("wandb.finish",))

    wandb = types.SimpleNamespace(init=lambda **kw: calls.append(("wandb.init", kw)) or Run())
    mlflow = types.SimpleNamespace(
        set_tracking_uri=lambda uri: calls.append(("mlflow.uri", uri)),
        set_experiment=lambda name: calls.append(("mlflow.experiment", name)),
        start_run=lambda run_name: calls.append(("mlflow.start", run_name)),
        log_metrics=lambda values, step: calls.append(("mlflow.log", values, step)),
        end_run=lambda: calls.append(("mlflow.end",)))
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sinks.require(["wandb", "mlflow"])
    opened = sinks.open_sinks(["wandb", "mlflow"], tmp_path / "run1", "sinusoid")
    for sink in opened:
        sink.write({"stage": "maml", "step": 3, "loss": 0.5})
        sink.close()
    assert ("wandb.log", {"maml/loss": 0.5, "maml/step": 3.0}) in calls
    assert ("mlflow.log", {"maml/loss": 0.5}, 3) in calls
    assert ("mlflow.experiment", "sinusoid") in calls and ("wandb.finish",) in calls
    assert calls[0][1]["name"] == "run1"


def test_missing_sink_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails
    with pytest.raises(BadInput, match=r'metalab\[wandb\]'):
        sinks.require(["wandb"])


def _fake_run(folder, lr, losses, accuracy):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"experiment": "sinusoid", "config": {"inner_lr": lr, "steps": 3}}))
    (folder / "summary.json").write_text(json.dumps(
        {"experiment": "sinusoid", "metrics": {"maml/accuracy": accuracy}}))
    (folder / "metrics.jsonl").write_text("".join(
        json.dumps({"stage": "maml", "step": i + 1, "loss": v}) + "\n"
        for i, v in enumerate(losses)))


def test_compare_tables_differences_metrics_and_curves(tmp_path):
    _fake_run(tmp_path / "a", 0.1, [3.0, 2.0, 1.0], 0.5)
    _fake_run(tmp_path / "sweep" / "b", 0.2, [3.0, 1.5, 0.5], 0.75)
    out = tmp_path / "cmp"
    assert cli(["compare", str(tmp_path / "a"), str(tmp_path / "sweep"), "--out", str(out)]) == 0
    page = (out / "compare.md").read_text()
    assert "| `inner_lr` | 0.1 | 0.2 |" in page and "`steps`" not in page
    assert "| `maml/accuracy` | 0.5 | 0.75 |" in page
    assert (out / "summary.csv").read_text().splitlines() == [
        "run,experiment,maml/accuracy", "a,sinusoid,0.5", "b,sinusoid,0.75"]
    from PIL import Image

    image = np.asarray(Image.open(out / "curve_loss.png"))
    assert image.shape[0] > 100 and image.std() > 0
    assert len(compare([tmp_path / "a", tmp_path / "a"], tmp_path / "twice")) == 2
