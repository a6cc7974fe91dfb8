"""Tasks, seeds and ES populations split over 8 (faked CPU) devices: the arrays carry the
intended sharding and the results match one device (and, for seeds, separate runs)."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, jax, numpy as np, optax
from metalab.estimators.backprop import backprop
from metalab.estimators.evolution import antithetic_gradient
from metalab.learners.maml import maml
from metalab.models.mlp import mlp
from metalab.tasks.sinusoid import Sinusoid
from metalab.training import (init_state, make_meta_step, scan_steps, seed_keys, shard_tasks,
                              sharded_fitness_map, stack_states, vmap_seeds)
from metalab.training.sharding import split_leading

def spec(x):
    return [str(getattr(x.sharding, "spec", None)), len({s.device for s in x.addressable_shards})]

learner, opt = maml(mlp((1, 8, 8, 1)), 0.01), optax.adam(1e-3)
step = lambda key: make_meta_step(learner, backprop(), optimizer=opt, tasks=Sinusoid(),
                                        meta_batch=8, inner_steps=1, key=key)
state, metrics = scan_steps(step(jax.random.PRNGKey(1)), 3)(
    init_state(learner, opt, jax.random.PRNGKey(0)))
init_keys, run_keys = seed_keys(0, 8)
seeds, seed_metrics = scan_steps(vmap_seeds(step, run_keys), 3)(
    stack_states(lambda k: init_state(learner, opt, k), init_keys))
alone = [scan_steps(step(run_keys[s]), 3)(init_state(learner, opt, init_keys[s]))[1]["loss"]
         for s in ((5,) if jax.device_count() == 1 else ())]
f = lambda p: ((p - 1.0) ** 2).sum()
es = lambda fm: antithetic_gradient(f, np.ones(6, np.float32), jax.random.PRNGKey(2), 8, 0.1,
                                    fitness_map=fm)[0]
print(json.dumps({
    "devices": jax.device_count(),
    "tasks": spec(shard_tasks(Sinusoid().sample(jax.random.PRNGKey(0), 16)).support_x),
    "tasks_uneven": spec(shard_tasks(Sinusoid().sample(jax.random.PRNGKey(0), 12)).support_x),
    "seeds": spec(seeds.meta["init"]["layer1"]["w"]),
    "population": spec(jax.jit(split_leading)(np.ones((16, 3)))),
    "w": state.meta["init"]["layer1"]["w"].ravel().tolist(),
    "loss": metrics["loss"].tolist(),
    "seed_loss": seed_metrics["loss"].tolist(),
    "alone": [a.tolist() for a in alone],
    "es": jax.jit(lambda: es(sharded_fitness_map))().tolist(),
    "es_vmap": es(None).tolist(),
}))
"""


def _run(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")  # the suite's flags
               + f" --xla_force_host_platform_device_count={devices}")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_tasks_seeds_and_population_split_over_8_devices_match_one():
    one, eight = _run(1), _run(8)
    assert one["devices"] == 1 and eight["devices"] == 8
    assert eight["tasks"] == ["P('data',)", 8]
    assert eight["seeds"] == ["P('data',)", 8]
    assert eight["population"] == ["P('data',)", 8]
    assert eight["tasks_uneven"][1] == 1  # 12 tasks on 8 devices: left whole
    np.testing.assert_allclose(eight["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(eight["w"], one["w"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(eight["seed_loss"], one["seed_loss"], rtol=1e-5)
    # a vmapped seed is its separate run (checked on one device; eight equal one)
    np.testing.assert_allclose(np.array(one["seed_loss"])[:, [5]], np.array(one["alone"]).T,
                               rtol=1e-5)
    for run in (one, eight):
        np.testing.assert_allclose(run["es"], run["es_vmap"], rtol=1e-5, atol=1e-6)
