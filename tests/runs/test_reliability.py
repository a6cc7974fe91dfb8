"""No bad state saved as good; checkpoints atomic as a whole; one writer per run folder.

A tiny pure-JAX meta-step stands in for an experiment, so every test here runs in well under
a second of compute; the CLI is exercised in-process.
"""

import builtins
import json
import os
import signal
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.cli import main
from metalab.errors import BadInput, Diverged
from metalab.runs.claim import MARKER, open_run
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.training import Checkpointer, TrainState, fit
from metalab.training.checkpoint import MAGIC


def tiny_state() -> TrainState:
    return TrainState({"w": jnp.zeros(3)}, {"m": jnp.zeros(3)}, jnp.zeros((), jnp.int32))


def counting_step(bad_at: int = 0, what: str = "", scale: float = 1.0):
    """w += 1 per step; from meta-step ``bad_at`` on, ``what`` turns non-finite."""

    def meta_step(state):
        step = state.step + 1
        bad = (step >= bad_at) & (bad_at > 0)
        loss = scale / step + 0.0 * state.meta["w"][0]
        grad_norm = jnp.where(bad & (what == "grad"), jnp.nan, 1.0)
        w = state.meta["w"] + jnp.where(bad & (what == "params"), jnp.inf, 1.0)
        m = state.opt_state["m"] + jnp.where(bad & (what == "opt"), jnp.nan, 0.5)
        loss = jnp.where(bad & (what == "loss"), jnp.nan, loss)
        return TrainState({"w": w}, {"m": m}, step), {"loss": loss, "grad_norm": grad_norm}

    return meta_step


@pytest.mark.parametrize("what, name", [("loss", "loss"), ("grad", "gradient norm"),
                                        ("params", "parameters"), ("opt", "optimiser state")])
def test_divergence_at_a_checkpoint_step_keeps_a_truly_good_checkpoint(tmp_path, what, name):
    """Step 17 goes bad in the chunk ending at checkpoint step 20, with a finite loss unless
    the loss is what goes bad: nothing of that chunk is saved, the step-10 one is finite."""
    ckpt = Checkpointer(tmp_path)
    with pytest.raises(Diverged, match=f"non-finite .*{name}.* at meta-step 17") as err:
        fit(tiny_state(), counting_step(17, what), 40, chunk=5, checkpointer=ckpt,
            checkpoint_every=10)
    assert err.value.step == 17
    restored = ckpt.restore(tiny_state())
    assert int(restored.step) == ckpt.info()["step"] == 10
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(restored))
    np.testing.assert_array_equal(restored.meta["w"], np.full(3, 10.0))


def test_loss_above_the_stated_bound_stops_the_run(tmp_path):
    with pytest.raises(Diverged, match="loss above the bound 100 at meta-step 1;"):
        fit(tiny_state(), counting_step(scale=1e3), 20, chunk=5, max_loss=100.0)
    # 1000 / step drops below the bound at step 10, so the bound only trips while above it
    state = fit(tiny_state(), counting_step(scale=1e3), 20, chunk=5, max_loss=1e3)
    assert int(state.step) == 20


def test_cli_max_loss_is_checked_and_kept_for_resume(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "sinusoid", "--out", str(out), "--max-loss", "-1"]) == 2
    assert "--max-loss" in capsys.readouterr().err and not out.exists()


def test_metrics_rewind_to_the_step_the_restored_state_holds(tmp_path):
    """A format-1 pair that disagrees (tree at step 20, sidecar saying 10): resume continues
    from the tree and keeps the metric lines up to 20, so nothing is logged twice."""
    rundir = RunDir(tmp_path)
    train_stage(rundir, "s", tiny_state(), counting_step(), 20, chunk=5, checkpoint_every=5)
    lines = (tmp_path / "metrics.jsonl").read_text()
    ckpt = rundir.checkpointer("s")
    eqx.tree_serialise_leaves(ckpt.tree_path, ckpt.restore(tiny_state()))
    ckpt.meta_path.write_text(json.dumps({"step": 10}))
    ckpt.path.unlink()
    rundir = RunDir(tmp_path, resume=True)
    state = train_stage(rundir, "s", tiny_state(), counting_step(), 30, chunk=5,
                        checkpoint_every=5)
    rundir.settle()
    steps = [r["step"] for r in rundir.metrics()]
    assert steps == [5, 10, 15, 20, 25, 30] and int(state.step) == 30
    assert (tmp_path / "metrics.jsonl").read_text().startswith(lines)
    assert not ckpt.tree_path.exists() and not ckpt.meta_path.exists()  # replaced by format 2


def test_checkpoint_is_one_versioned_file(tmp_path):
    ckpt = Checkpointer(tmp_path)
    assert ckpt.info() is None
    ckpt.save(tiny_state(), 7, note="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.ckpt"]
    raw = ckpt.path.read_bytes()
    header = json.loads(raw[len(MAGIC):].split(b"\n", 1)[0])
    assert raw.startswith(MAGIC) and header["format"] == 2 and header["step"] == 7
    assert ckpt.info() == {"step": 7, "note": "x"}
    assert eqx.tree_equal(ckpt.restore(tiny_state()), tiny_state())


@pytest.mark.parametrize("damage, needle", [
    (lambda raw: raw[:-3], "truncated"),
    (lambda raw: b"garbage\n" + raw, "not a metalab checkpoint"),
    (lambda raw: raw.replace(b'"format": 2', b'"format": 9'), "format 9"),
])
def test_damaged_or_newer_checkpoints_are_refused_with_the_fix(tmp_path, damage, needle):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(tiny_state(), 3)
    ckpt.path.write_bytes(damage(ckpt.path.read_bytes()))
    with pytest.raises(BadInput, match=f"{needle}.*delete"):
        ckpt.info()


def test_checkpoint_of_another_shape_is_refused(tmp_path):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(tiny_state(), 3)
    other = TrainState({"w": jnp.zeros(4)}, {"m": jnp.zeros(3)}, jnp.zeros((), jnp.int32))
    with pytest.raises(BadInput, match="does not match"):
        ckpt.restore(other)


class Crash(BaseException):
    """A simulated death of the process: no ``except`` in the code under test catches it."""


class Faults:
    """Crashes at the ``fail_at``-th file operation under ``root`` (open, write, fsync,
    rename, unlink, mkdir); a crashing write first writes half its data (a torn write)."""

    def __init__(self, root, fail_at):
        self.root, self.fail_at, self.count = str(root), fail_at, 0

    def tick(self):
        self.count += 1
        if self.count == self.fail_at:
            raise Crash(f"injected crash at file operation {self.count}")

    def install(self, monkeypatch):
        real_open, real = builtins.open, {n: getattr(os, n) for n in
                                          ("replace", "fsync", "unlink", "mkdir")}
        faults = self

        class File:
            def __init__(self, f):
                self._f = f

            def write(self, data):
                if faults.count + 1 == faults.fail_at:
                    self._f.write(data[: len(data) // 2])
                faults.tick()
                return self._f.write(data)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self._f.__exit__(*exc)

            def __getattr__(self, name):
                return getattr(self._f, name)

        def fopen(file, *args, **kwargs):
            if str(file).startswith(self.root):
                self.tick()
                return File(real_open(file, *args, **kwargs))
            return real_open(file, *args, **kwargs)

        def wrap(name):
            def op(*args, **kwargs):
                if name == "fsync" or str(args[0]).startswith(self.root):
                    self.tick()
                return real[name](*args, **kwargs)
            return op

        monkeypatch.setattr(builtins, "open", fopen)
        for name in real:
            monkeypatch.setattr(os, name, wrap(name))


def _train(folder, resume):
    rundir = RunDir(folder, resume=resume)
    state = train_stage(rundir, "s", tiny_state(), counting_step(), 8, chunk=2,
                        checkpoint_every=4)
    rundir.settle()
    return state


def _outputs(folder):
    return ((folder / "metrics.jsonl").read_bytes(),
            (folder / "checkpoints" / "s" / "state.ckpt").read_bytes())


def test_a_crash_at_any_file_operation_resumes_to_the_same_state(tmp_path, monkeypatch):
    """Fail each file operation of a short training run in turn, then resume without faults:
    every resumed run ends with the metrics, checkpoint and state of an uninterrupted one."""
    counter = Faults(tmp_path / "reference", 0)
    with monkeypatch.context() as patch:
        counter.install(patch)
        reference = _train(tmp_path / "reference", False)
    expected = _outputs(tmp_path / "reference")
    crashes = 0
    for k in range(1, counter.count + 2):
        folder = tmp_path / f"crash{k}"
        with monkeypatch.context() as patch:
            Faults(folder, k).install(patch)
            try:
                _train(folder, False)
            except Crash:
                crashes += 1
            else:
                break
        assert eqx.tree_equal(_train(folder, True), reference), k
        assert _outputs(folder) == expected, k
    assert crashes == counter.count > 20  # every log line, checkpoint write, fsync, rename


def test_a_killed_run_is_marked_incomplete_and_out_into_it_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt), open_run(out, resume=False):
        raise KeyboardInterrupt
    assert (out / MARKER).exists() and "--resume" in (out / MARKER).read_text()
    assert main(["run", "sinusoid", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unfinished run" in err and f"--resume {out}" in err.replace("\n", "")
    with open_run(out, resume=True):
        pass
    assert not (out / MARKER).exists()


def test_out_into_a_finished_run_or_a_foreign_folder_is_refused(tmp_path, capsys):
    finished = tmp_path / "done"
    finished.mkdir()
    (finished / "config.json").write_text("{}")
    (finished / "summary.json").write_text("{}")
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("x")
    for folder, needle in ((finished, "finished run"), (foreign, "not empty")):
        before = sorted(p.name for p in folder.iterdir())
        assert main(["run", "sinusoid", "--out", str(folder)]) == 2
        assert needle in capsys.readouterr().err
        assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


def test_bad_input_found_inside_run_leaves_no_folder(tmp_path):
    with pytest.raises(BadInput), open_run(tmp_path / "r", resume=False):
        raise BadInput("--data-file", "missing")
    assert not (tmp_path / "r").exists()


HOLD = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); "
        "print('held', flush=True); time.sleep(60)")


def test_one_writer_per_run_folder_and_a_killed_writer_leaves_no_stuck_lock(tmp_path):
    out = tmp_path / "r"
    with open_run(out, resume=False):
        with pytest.raises(BadInput, match="another metalab process"):
            with open_run(out, resume=True):
                pass
    with subprocess.Popen([sys.executable, "-c", HOLD, str(out / ".lock")],
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline() == "held\n"
            with pytest.raises(BadInput, match=f"pid {holder.pid}"):
                with open_run(out, resume=True):
                    pass
        finally:
            holder.send_signal(signal.SIGKILL)
    with open_run(out, resume=True):  # the kernel dropped the dead holder's lock
        pass


def test_resume_replays_metrics_whatever_else_is_logged(tmp_path):
    """Lines besides training (evaluation results) are neither lost nor duplicated."""

    def experiment(folder, resume, stop_after=None):
        rundir = RunDir(folder, resume=resume)
        for i, stage in enumerate(("a", "b")):
            train_stage(rundir, stage, tiny_state(), counting_step(), 8, chunk=2,
                        checkpoint_every=4)
            if stop_after == i:
                raise KeyboardInterrupt
            rundir.log({"stage": "eval", "of": stage})
        rundir.settle()

    experiment(tmp_path / "ref", False)
    with pytest.raises(KeyboardInterrupt):
        experiment(tmp_path / "cut", False, stop_after=1)
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"stage": "b", "st')  # a torn last line
    experiment(tmp_path / "cut", True)
    assert ((tmp_path / "cut" / "metrics.jsonl").read_text()
            == (tmp_path / "ref" / "metrics.jsonl").read_text())


def test_resume_refuses_unknown_config_keys(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(
        {"experiment": "sinusoid", "config": {"steps": 10, "warp_drive": True}}))
    assert main(["run", "sinusoid", "--resume", str(tmp_path)]) == 2
    assert "warp_drive" in capsys.readouterr().err


def test_a_checkpoint_holding_nan_is_refused(tmp_path):
    """Earlier versions could save a diverged state; resuming from it is refused."""
    ckpt = Checkpointer(tmp_path)
    bad = TrainState({"w": jnp.full(3, jnp.nan)}, {"m": jnp.zeros(3)}, jnp.ones((), jnp.int32))
    ckpt.save(bad, 1)
    with pytest.raises(BadInput, match="non-finite values.*delete"):
        ckpt.restore(tiny_state())


def test_resume_sweeps_temporary_files_of_a_killed_writer(tmp_path):
    stale = tmp_path / "checkpoints" / "s" / ".state.ckpt.99999.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    with open_run(tmp_path, resume=True):
        pass
    assert not stale.exists()


def test_divergence_of_one_vmapped_seed_names_its_step(tmp_path):
    """Metrics with a seed axis [chunk, seeds]: the step is found along the chunk axis."""

    def meta_step(state):
        step = state.step + 1
        loss = jnp.where((step >= 7) & (jnp.arange(3) == 2), jnp.nan, 1.0)
        return TrainState(state.meta, state.opt_state, step), {"loss": loss}

    with pytest.raises(Diverged, match="meta-step 7;"):
        fit(tiny_state(), meta_step, 20, chunk=5)


def test_bad_input_after_training_keeps_the_trained_state(tmp_path):
    with pytest.raises(BadInput), open_run(tmp_path / "r", resume=False) as rundir:
        rundir.checkpointer("s").save(tiny_state(), 1)
        raise BadInput("--data-file", "found unreadable after training")
    assert (tmp_path / "r" / "checkpoints" / "s" / "state.ckpt").exists()
    assert (tmp_path / "r" / MARKER).exists()


def test_resume_names_settings_missing_from_an_older_config(tmp_path, capsys, monkeypatch):
    """A setting added since the run was written takes its default, said out loud."""
    import dataclasses

    from metalab.experiments import EXPERIMENTS

    quick = dataclasses.replace(EXPERIMENTS["sinusoid"], run=lambda cfg, rundir: {})
    monkeypatch.setitem(EXPERIMENTS._entries, "sinusoid", quick)
    (tmp_path / "config.json").write_text(json.dumps(
        {"experiment": "sinusoid", "config": {"steps": 10, "log_every": 10,
                                              "checkpoint_every": 10}}))
    assert main(["run", "sinusoid", "--resume", str(tmp_path)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "has no setting 'meta_batch' (written by an earlier version); using its default 25" \
        in err


def test_bad_input_after_a_seed_trained_keeps_its_state(tmp_path):
    """With --seeds or a sweep, checkpoints sit one level down (seed-0/checkpoints)."""
    with pytest.raises(BadInput), open_run(tmp_path / "r", resume=False):
        Checkpointer(tmp_path / "r" / "seed-0" / "checkpoints" / "s").save(tiny_state(), 1)
        raise BadInput("--data-file", "found unreadable after the first seed")
    assert (tmp_path / "r" / "seed-0" / "checkpoints" / "s" / "state.ckpt").exists()
