"""A plugin that fails to load is reported in one line and does not break ``metalab list``."""

from importlib.metadata import EntryPoint

import metalab.experiments as experiments
from metalab.cli import main
from metalab.experiments import ENTRY_POINT_GROUP


def test_list_survives_plugins_that_fail_to_load(monkeypatch, capsys):
    broken = [EntryPoint("gone", "no_such_metalab_plugin:EXPERIMENT", ENTRY_POINT_GROUP),
              EntryPoint("not-one", "metalab.errors:BadInput", ENTRY_POINT_GROUP)]
    monkeypatch.setattr(experiments, "entry_points", lambda group: broken)
    assert main(["list"]) in (0, None)
    out, err = capsys.readouterr()
    assert "sinusoid" in out and "omniglot" in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2, err
    assert "plugin 'gone'" in lines[0] and "ModuleNotFoundError" in lines[0]
    assert "plugin 'not-one'" in lines[1] and "not a metalab Experiment" in lines[1]
    assert "gone" not in experiments.EXPERIMENTS and "not-one" not in experiments.EXPERIMENTS
