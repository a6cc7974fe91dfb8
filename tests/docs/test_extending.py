"""Experiments from installed packages are found and run (docs/extending.md itself runs in
test_docs_blocks.py)."""

import subprocess
import sys
import textwrap


def test_entry_point_experiments_are_listed_and_run(tmp_path):
    """A package declaring ``metalab.experiments`` entry points shows up in ``metalab list``
    and runs with ``metalab run``."""
    (tmp_path / "demo_plugin.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from metalab.runs import Experiment

        @dataclass(frozen=True)
        class Config:
            value: float = 2.0
            seed: int = 0
            quick: bool = False

            def resolved(self):
                return self

        def run(cfg, rundir):
            summary = {"twice": 2 * cfg.value}
            rundir.write_summary("plugin-demo", summary)
            return summary

        EXPERIMENT = Experiment("plugin-demo", "an experiment from a plugin", "1 s", Config, run)
    '''))
    info = tmp_path / "demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[metalab.experiments]\nplugin-demo = demo_plugin:EXPERIMENT\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "metalab.cli"]
    listed = subprocess.run([*cmd, "list"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "plugin-demo" in listed.stdout and "an experiment from a plugin" in listed.stdout
    ran = subprocess.run([*cmd, "run", "plugin-demo", "--value", "3", "--out",
                          str(tmp_path / "run")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert '"twice": 6.0' in (tmp_path / "run" / "summary.json").read_text()
