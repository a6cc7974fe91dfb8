"""Ctrl-C at any stage of a run exits with code 1, the line saying how to continue and a
folder ``--resume`` finishes, even while the device still runs compiled work."""

import subprocess
import sys
import textwrap
from dataclasses import dataclass

from metalab.cli import main
from metalab.experiments import EXPERIMENTS, register_experiment
from metalab.runs import Experiment

SCRIPT = textwrap.dedent('''
    import os, signal, sys
    from dataclasses import dataclass
    import jax, jax.numpy as jnp
    from metalab.cli import main
    from metalab.experiments import register_experiment
    from metalab.runs import Experiment

    @jax.jit
    def heavy(x):
        return jax.lax.fori_loop(0, 200, lambda i, a: jnp.tanh(a @ a), x)

    @dataclass(frozen=True)
    class Config:
        seed: int = 0
        quick: bool = False
        def resolved(self):
            return self

    def run(cfg, rundir):
        x = jnp.ones((256, 256)) / 256
        heavy(x).block_until_ready()
        pending = [heavy(x + i) for i in range(6)]  # still running on XLA's threads
        os.kill(os.getpid(), signal.SIGINT)
        return {"done": float(pending[-1].sum())}

    register_experiment(Experiment("interrupt-demo", "Ctrl-C mid-work", "1 s", Config, run))
    sys.argv = ["metalab", "run", "interrupt-demo", "--out", sys.argv[1]]
    sys.exit(main())
''')


def test_ctrl_c_while_the_device_works_exits_1_naming_the_folder(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # not -11 (a segmentation fault)
    assert f"interrupted; continue with --resume {out}" in " ".join(proc.stderr.split())
    assert (out / "INCOMPLETE").is_file() and (out / "config.json").is_file()
    assert "Traceback" not in proc.stderr


@dataclass(frozen=True)
class Stop:
    seed: int = 0
    quick: bool = False

    def resolved(self):
        return self


def test_an_interrupted_run_is_resumed_to_the_end(tmp_path, capsys, monkeypatch):
    calls = []

    def run(cfg, rundir):
        calls.append(rundir.resume)
        if len(calls) == 1:
            raise KeyboardInterrupt
        rundir.write_summary("interrupt-resume", {"x": 1.0})
        return {"x": 1.0}

    monkeypatch.setattr(EXPERIMENTS, "_entries", dict(EXPERIMENTS._entries))  # undone after
    register_experiment(Experiment("interrupt-resume", "resume", "1 s", Stop, run),
                        replace=True)
    out = tmp_path / "run"
    assert main(["run", "interrupt-resume", "--out", str(out)]) == 1
    assert f"continue with --resume {out}" in " ".join(capsys.readouterr().err.split())
    assert (out / "INCOMPLETE").is_file()
    assert main(["run", "interrupt-resume", "--resume", str(out)]) == 0
    assert calls == [False, True] and not (out / "INCOMPLETE").exists()


def test_ctrl_c_before_the_folder_is_claimed_says_nothing_to_resume(tmp_path, capsys,
                                                                     monkeypatch):
    def check(cfg):
        raise KeyboardInterrupt  # e.g. while reading the data

    monkeypatch.setattr(EXPERIMENTS, "_entries", dict(EXPERIMENTS._entries))
    register_experiment(Experiment("interrupt-early", "early", "1 s", Stop,
                                   lambda cfg, rundir: {}, check=check))
    out = tmp_path / "run"
    assert main(["run", "interrupt-early", "--out", str(out)]) == 1
    assert "no run folder was written, nothing to resume" in capsys.readouterr().err
    assert not out.exists()
