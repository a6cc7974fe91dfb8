"""A sweep whose points form two vmapped groups writes each point's summary and config to
that point's own folder (``metalab.sweep.run_sweep`` with ``Experiment.run_points``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from metalab.runs.experiment import Experiment
from metalab.runs.rundir import RunDir
from metalab.sweep import parse_sets, run_sweep, vmapped_groups


@dataclass(frozen=True)
class Config:
    lr: float = 0.1
    steps: int = 5
    seed: int = 0
    quick: bool = False

    def resolved(self) -> Config:
        return self


def _summary(cfg: Config, sub: RunDir) -> dict[str, float]:
    summary = {"lr_seen": cfg.lr, "steps_seen": float(cfg.steps)}
    sub.write_summary("grouped", summary)
    return summary


def _run_points(configs, seeds, rundir, group, finish):
    """As a vmapped program would: one training for the group, then each member finished
    (its evaluation written) through ``finish(k, body)``."""
    calls.append((group, [(c.lr, c.steps) for c in configs]))
    return [finish(k, lambda sub, c=c: _summary(c, sub)) for k, c in enumerate(configs)]


calls: list = []
GROUPED = Experiment("grouped", "two vmapped groups", "1 s", Config,
                     lambda cfg, rundir: _summary(cfg, rundir), traced=("lr",),
                     run_points=_run_points)


def test_two_vmapped_groups_write_each_point_to_its_own_folder(tmp_path):
    calls.clear()
    grid = parse_sets(["lr=0.05,0.2", "steps=5,10"])
    assert vmapped_groups(GROUPED, grid) == {"steps=5": [0, 2], "steps=10": [1, 3]}
    rows = run_sweep(GROUPED, {"experiment": "grouped", "grid": grid, "base": [], "seeds": 1},
                     RunDir(tmp_path))
    assert sorted(g for g, _ in calls) == ["steps=10", "steps=5"]  # both ran as groups
    for row in rows:
        folder = tmp_path / "points" / f"lr={row['lr']},steps={row['steps']}"
        summary = json.loads((folder / "summary.json").read_text())["metrics"]
        config = json.loads((folder / "config.json").read_text())["config"]
        assert summary == {"lr_seen": float(row["lr"]), "steps_seen": float(row["steps"])}
        assert (config["lr"], config["steps"]) == (float(row["lr"]), int(row["steps"]))
        assert row["lr_seen"] == float(row["lr"]) and row["steps_seen"] == int(row["steps"])
        assert not (folder / "INCOMPLETE").exists()
