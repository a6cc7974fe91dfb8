"""Many hosts: the same program on every process through JAX's own distributed runtime.

``initialize`` calls ``jax.distributed.initialize`` from explicit settings (the CLI's
``--coordinator/--num-processes/--process-id``), from ``METALAB_COORDINATOR``,
``METALAB_NUM_PROCESSES`` and ``METALAB_PROCESS_ID``, or, under SLURM or another cluster
JAX detects, from the cluster's own variables. Afterwards ``jax.devices()`` lists every
process's devices, so ``training.sharding`` splits tasks, seeds and populations across hosts
with no other change. Every process runs the whole outer loop on the same replicated
state (``replicate``); the meta-gradient's mean over tasks is XLA's cross-process
all-reduce (Gloo between CPU processes, NCCL between GPUs). Only process 0 writes
(``is_writer``); see ``docs/scaling.md`` for launching on a cluster.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from metalab.errors import BadInput
from metalab.training.sharding import mesh

T = TypeVar("T")
ENV = ("METALAB_COORDINATOR", "METALAB_NUM_PROCESSES", "METALAB_PROCESS_ID")
CLUSTER_ENV = ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Join the distributed run described by the arguments, the ``METALAB_*`` variables or
    the cluster's own (SLURM, Open MPI); returns False (nothing done) when none is set."""
    env = [os.environ.get(name) for name in ENV]
    coordinator = coordinator or env[0]
    num_processes = num_processes if num_processes is not None else _int(env[1], ENV[1])
    process_id = process_id if process_id is not None else _int(env[2], ENV[2])
    explicit = (coordinator, num_processes, process_id)
    if all(v is None for v in explicit) and not any(os.environ.get(v) for v in CLUSTER_ENV):
        return False
    if any(v is None for v in explicit) and any(v is not None for v in explicit):
        raise BadInput("--coordinator", "give --coordinator HOST:PORT, --num-processes N and "
                       "--process-id I together (or none, under SLURM)")
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise BadInput("--process-id", f"must be in [0, {num_processes}), got {process_id}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only
    jax.distributed.initialize(coordinator, num_processes, process_id)
    return True


def is_writer() -> bool:
    """True on the process that writes run folders, checkpoints and reports (process 0)."""
    return jax.process_index() == 0


def private_folder(out: Path, resume: bool) -> Path:
    """The run folder this process writes: ``out`` on process 0; on the others a scratch
    folder removed at exit (a copy of ``out`` when resuming, so every process restores the
    same checkpoints), so that one process alone writes the real run folder."""
    if is_writer():
        return out
    scratch = Path(tempfile.mkdtemp(prefix=f"metalab-process{jax.process_index()}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    if resume:
        shutil.copytree(out, scratch / "run", ignore=shutil.ignore_patterns(".lock"))
    return scratch / "run"


def replicate(tree: T) -> T:
    """Identical host values on every process -> arrays replicated over all processes'
    devices (the form a multi-process ``jit`` takes); unchanged with one process."""
    if jax.process_count() == 1:
        return tree
    whole = NamedSharding(mesh(), PartitionSpec())

    def one(x: Any) -> jax.Array:
        local = np.asarray(x)
        return jax.make_array_from_callback(local.shape, whole, lambda index: local[index])

    return jax.tree.map(one, tree)


def to_host(tree: T) -> T:
    """NumPy copies of the leaves: whole arrays, or the local copy of an array replicated
    across processes."""

    def one(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.is_fully_replicated:
                raise ValueError("to_host needs arrays replicated across processes")
            return np.asarray(x.addressable_data(0))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def _int(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as e:
        raise BadInput(name, f"must be an integer, got {text!r}") from e

