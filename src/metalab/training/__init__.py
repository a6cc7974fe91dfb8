"""The outer loop: optax outer optimisers, many meta-steps per dispatch, checkpoints, sharding."""

from metalab.training.checkpoint import Checkpointer
from metalab.training.optimizers import per_entry_adam
from metalab.training.sharding import shard_tasks
from metalab.training.trainer import (
    Metrics,
    TrainState,
    fit,
    init_state,
    make_meta_step,
    resume_or_init,
    scan_steps,
)

__all__ = ["Checkpointer", "Metrics", "TrainState", "fit", "init_state", "make_meta_step",
           "per_entry_adam", "resume_or_init", "scan_steps", "shard_tasks"]
