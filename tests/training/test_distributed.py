"""Two local CPU processes joined by ``jax.distributed`` run the same meta-training as one
process: ``fit`` with the task batch split between them gives the single-process losses and
parameters; through the CLI (``--coordinator``), process 0 alone writes the run folder and its
metrics and summary equal the single-process run's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from metalab.errors import BadInput
from metalab.training.distributed import initialize

RUN = ["run", "sinusoid", "--methods", "maml", "--steps", "20", "--log-every", "10",
       "--checkpoint-every", "10", "--eval-tasks", "100", "--hidden", "8", "8",
       "--meta-batch", "8"]


def _cli(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.Popen([sys.executable, "-m", "metalab.cli", *RUN, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


FIT = """
import json, sys, jax, optax
from metalab.training.distributed import initialize, to_host
if len(sys.argv) > 1:
    initialize(f"localhost:{sys.argv[1]}", 2, int(sys.argv[2]))
from metalab.estimators.backprop import backprop
from metalab.learners.maml import maml
from metalab.models.mlp import mlp
from metalab.tasks.sinusoid import Sinusoid
from metalab.training import fit, init_state, make_meta_step
learner, opt = maml(mlp((1, 8, 8, 1)), 0.01), optax.adam(1e-2)
step = make_meta_step(learner, backprop(), optimizer=opt, tasks=Sinusoid(), meta_batch=8,
                      inner_steps=1, key=jax.random.PRNGKey(1))
losses = []
state = fit(init_state(learner, opt, jax.random.PRNGKey(0)), step, 6, chunk=3,
            log=lambda step, m: losses.append(m["loss"]))
print(json.dumps({"devices": jax.device_count(), "losses": losses,
                  "w": to_host(state.meta)["init"]["layer1"]["w"].ravel().tolist()}))
"""


def _python(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.Popen([sys.executable, "-c", FIT, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_processes_fit_equals_one():
    port = str(_free_port())
    runs = [_python([port, str(i)]) for i in range(2)] + [_python([])]
    results = [json.loads(_finish(p).strip().splitlines()[-1]) for p in runs]
    assert [r["devices"] for r in results] == [2, 2, 1]
    for multi in results[:2]:
        np.testing.assert_allclose(multi["losses"], results[2]["losses"], rtol=1e-5)
        np.testing.assert_allclose(multi["w"], results[2]["w"], rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # three CLI processes with evaluation (~40 s); the fit test is the default
def test_two_processes_equal_one(tmp_path):

    port = _free_port()
    procs = [_cli(["--out", str(tmp_path / "multi"), "--coordinator", f"localhost:{port}",
                   "--num-processes", "2", "--process-id", str(i)]) for i in range(2)]
    single = _cli(["--out", str(tmp_path / "single")])
    outputs = [_finish(p) for p in procs]
    _finish(single)
    assert str(tmp_path / "multi") not in outputs[1]  # process 1 wrote a scratch folder
    multi, one = (tmp_path / "multi"), (tmp_path / "single")
    assert not (multi / "INCOMPLETE").exists()
    lines = [[json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
             for d in (multi, one)]
    assert [r.get("step") for r in lines[0]] == [r.get("step") for r in lines[1]]
    for a, b in zip(*lines, strict=True):
        for key in ("loss", "grad_norm"):
            if key in a:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4)
    summaries = [json.loads((d / "summary.json").read_text())["metrics"] for d in (multi, one)]
    for key, value in summaries[1].items():
        if "seconds" in key:  # wall time differs
            continue
        np.testing.assert_allclose(summaries[0][key], value, rtol=1e-3, err_msg=key)


def test_partial_or_bad_settings_are_refused(monkeypatch):
    for name in ("METALAB_COORDINATOR", "METALAB_NUM_PROCESSES", "METALAB_PROCESS_ID",
                 "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.delenv(name, raising=False)
    assert initialize() is False  # nothing set: one process, nothing done
    with pytest.raises(BadInput, match="together"):
        initialize("localhost:1234")
    with pytest.raises(BadInput, match="process-id"):
        initialize("localhost:1234", 2, 2)
    monkeypatch.setenv("METALAB_NUM_PROCESSES", "two")
    with pytest.raises(BadInput, match="integer"):
        initialize()
