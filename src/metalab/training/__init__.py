"""The outer loop: optax outer optimisers, many meta-steps per dispatch, checkpoints, seeds as
one program, sharding over devices."""

from metalab.training.checkpoint import Checkpointer
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import seed_keys, stack_states, unstack, vmap_seeds
from metalab.training.sharding import shard_seeds, shard_tasks, sharded_fitness_map
from metalab.training.state import Metrics, TrainState
from metalab.training.trainer import (
    MetaStep,
    fit,
    init_state,
    make_meta_step,
    resume_or_init,
    scan_steps,
)

__all__ = ["Checkpointer", "MetaStep", "Metrics", "TrainState", "fit", "init_state",
           "make_meta_step", "per_entry_adam", "resume_or_init", "scan_steps", "seed_keys",
           "shard_seeds", "shard_tasks", "sharded_fitness_map", "stack_states", "unstack",
           "vmap_seeds"]
