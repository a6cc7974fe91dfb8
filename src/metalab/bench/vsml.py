"""``metalab bench vsml``: milliseconds per ES meta-step of a VS-ML layer and sub-LSTM ticks
per second (Kirsch & Schmidhuber 2021; the issue's CPU target is 35 M ticks/s on 2 cores).

A tick is one micro-tick of one sub-LSTM (one weight), so an ES step of a ``n_in x n_out``
layer with ``population`` perturbed evaluations (``population / 2`` antithetic pairs) of a
``steps``-example stream at 2 micro-ticks runs n_in n_out population steps 2 ticks. The whole
ES step (streams, every evaluation's scan over time, the gradient and the Adam update) is one
jit-compiled call. As a baseline in the same run, each row also times the same number of ticks
of the per-weight gate matmul alone ([n_in n_out, 16] x [16, 64], then a cheap state update,
the population chunked the same way), the bound the issue quotes;
``fraction_of_matmul_bound`` is the ratio. A second row per configuration
(``vsml-sketch-<layer>``) times the issue's plain vectorised sketch of the same ES step
(``sketch_loss``: per-unit terms once per step, one batched gate matmul, XLA's sigmoid and
tanh, mean messages, the population chunked the same way), measured in the same run;
``full_over_sketch`` is the full model's speed relative to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from metalab.bench.base import Bench, device_name, peak_rss_mb
from metalab.errors import require
from metalab.tasks.families import load_family
from metalab.training import seed_keys
from metalab.vsml import (
    chunk_for,
    init_train_state,
    make_step,
    meta_optimizer,
    stream_loss,
    vsml,
)
from metalab.vsml.layer import FORGET_BIAS, INPUT_BIAS, Rule


@dataclass(frozen=True)
class VSMLBenchConfig:
    """Default workload: 64x10 and 784x10 layers, population 32 and 128, 100-step streams."""

    layers: tuple[str, ...] = ("64x10", "784x10")
    """layer shapes n_in x n_out"""
    populations: tuple[int, ...] = (32, 128)
    """perturbed evaluations per ES step (antithetic pairs = half)"""
    steps: int = 100
    """examples per stream"""
    chunk: int = 0
    """evaluations per device evaluated at once (``population_map``); 0: ``chunk_for`` the
    layer (25 for 64x10, 2 for 784x10)"""
    repeats: int = 2
    """timed calls per configuration after the compiling one (the best is kept)"""

    def __post_init__(self) -> None:
        for layer in self.layers:
            parts = layer.split("x")
            require(len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts),
                    "--layers", f"{layer!r} is not N_INxN_OUT, e.g. 64x10")
        require(all(p >= 2 and p % 2 == 0 for p in self.populations), "--populations",
                "must be even numbers >= 2 (antithetic pairs)")
        require(self.steps > 0, "--steps", "must be positive")
        require(self.chunk >= 0, "--chunk", "must be 0 (automatic) or positive")
        require(self.repeats > 0, "--repeats", "must be positive")


def _best_seconds(fn: Callable, arg, repeats: int) -> tuple[float, float]:
    """(compile seconds, best of ``repeats`` steady-state seconds) of ``fn(arg)``."""
    start = time.perf_counter()
    jax.block_until_ready(fn(arg))
    compile_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best


def _matmul_bound(weights: int, population: int, ticks: int, chunk: int) -> tuple:
    """The gate matmul alone over the same ticks, the population chunked as the ES step."""
    rule = vsml().init(jax.random.PRNGKey(0))

    def member(h: jax.Array) -> jax.Array:
        def body(h, _):
            return 0.5 * h + (h @ rule["w_h"])[:, : h.shape[-1]], None

        return jax.lax.scan(body, h, None, length=ticks)[0]

    def run(h: jax.Array) -> jax.Array:
        return jax.lax.map(member, h, batch_size=chunk)

    return jax.jit(run), jnp.zeros((population, weights, rule["w_h"].shape[0]))


def sketch_loss(rule: Rule, x: jax.Array, labels: jax.Array, c0: jax.Array) -> jax.Array:
    """Online cross-entropy of a one-layer VS-ML network on a stream (x [T, n_in], labels [T]),
    written as the plain sketch: XLA's sigmoid and tanh, per-unit terms once per step, one
    [n_in n_out, s] x [s, 4 s] matmul per micro-tick, the read-out from the mean of h. The
    tests check it equals ``learners.online_loss`` from the same initial cell state ``c0``."""
    n_in, n_out, s = c0.shape
    m = rule["w_f"].shape[0]

    def step(carry, xl):
        h, c, e = carry
        xt, label = xl
        fwd = jnp.zeros((n_in, m)).at[:, 0].set(xt)
        bwd = jnp.zeros((n_out, m)).at[:, 0].set(e)
        pre = (fwd @ rule["w_f"] + rule["bias"][None])[:, None] + (bwd @ rule["w_b"])[None]
        for _ in range(2):
            gi, gg, gf, go = jnp.split(h @ rule["w_h"] + pre, 4, axis=-1)
            c = (jax.nn.sigmoid(gf + FORGET_BIAS) * c
                 + jax.nn.sigmoid(gi + INPUT_BIAS) * jnp.tanh(gg))
            h = jax.nn.sigmoid(go) * jnp.tanh(c)
        y = h.mean(0) @ rule["fwd_w"][:, 1] + rule["fwd_b"][1]
        logp = jax.nn.log_softmax(100.0 * jnp.tanh(y / 100.0))
        return (h, c, jnp.exp(logp) - jax.nn.one_hot(label, n_out)), -logp[label]

    init = (jnp.zeros_like(c0), c0, jnp.zeros(n_out))
    return jax.lax.scan(step, init, (x, labels))[1].mean()


def _sketch_step(n_in: int, n_out: int, population: int, steps: int, chunk: int) -> tuple:
    """The sketch's ES step: a random stream, antithetic perturbations of a flat rule, their
    losses ``chunk`` at a time (``lax.map``), the estimate and a plain gradient step."""
    flat, unravel = ravel_pytree(vsml().init(jax.random.PRNGKey(0)))
    s = unravel(flat)["w_h"].shape[0]

    def es_step(theta: jax.Array) -> jax.Array:
        k_x, k_y, k_c, k_e = jax.random.split(jax.random.PRNGKey(2), 4)
        x = jax.random.normal(k_x, (steps, n_in))
        labels = jax.random.randint(k_y, (steps,), 0, n_out)
        c0 = jnp.concatenate([jax.random.normal(k_c, (n_in, n_out, s // 2)) / jnp.sqrt(n_in),
                              jnp.zeros((n_in, n_out, s - s // 2))], axis=-1)
        eps = jax.random.normal(k_e, (population // 2, theta.shape[0]))
        losses = jax.lax.map(lambda d: sketch_loss(unravel(theta + 0.05 * d), x, labels, c0),
                             jnp.concatenate([eps, -eps]), batch_size=chunk)
        diff = losses[: population // 2] - losses[population // 2:]
        return theta - 0.1 * diff @ eps / (0.05 * population)

    return jax.jit(es_step), flat


def rows(cfg: VSMLBenchConfig) -> Iterator[dict]:
    """One row per (layer, population)."""
    learner = vsml()
    for layer in cfg.layers:
        n_in, n_out = map(int, layer.split("x"))
        # `random` streams take any number of classes, so the layer has n_out outputs
        loss = stream_loss(learner, load_family("random", "train"), cfg.steps, n_out, n_in,
                           episodes=1)
        for population in cfg.populations:
            opt = meta_optimizer("es")
            chunk = cfg.chunk or chunk_for(n_in * n_out)
            init_keys, run_keys = seed_keys(0, 1)
            step = make_step(loss, "es", opt, run_keys, population // 2, 0.05, chunk)
            state = init_train_state(learner, opt, init_keys)
            compile_s, seconds = _best_seconds(jax.jit(step), state, cfg.repeats)
            ticks = n_in * n_out * population * cfg.steps * 2
            bound_fn, h = _matmul_bound(n_in * n_out, population, cfg.steps * 2, chunk)
            _, bound = _best_seconds(bound_fn, h, cfg.repeats)
            sketch_compile, sketch = _best_seconds(
                *_sketch_step(n_in, n_out, population, cfg.steps, chunk), cfg.repeats)
            common = {"population": population, "pairs": population // 2,
                      "stream_steps": cfg.steps, "chunk": chunk,
                      "matmul_bound_mticks_per_s": round(ticks / bound / 1e6, 2)}
            yield {
                "workload": f"vsml-es-{layer}", **common,
                "ms_per_es_step": round(seconds * 1e3, 1),
                "mticks_per_s": round(ticks / seconds / 1e6, 2),
                "fraction_of_matmul_bound": round(bound / seconds, 3),
                "full_over_sketch": round(sketch / seconds, 3),
                "compile_s": round(compile_s, 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "device": device_name(),
            }
            yield {
                "workload": f"vsml-sketch-{layer}", **common,
                "ms_per_es_step": round(sketch * 1e3, 1),
                "mticks_per_s": round(ticks / sketch / 1e6, 2),
                "fraction_of_matmul_bound": round(bound / sketch, 3),
                "compile_s": round(sketch_compile, 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "device": device_name(),
            }


BENCH = Bench("vsml", "ms per ES meta-step and sub-LSTM ticks/s of VS-ML layers",
              VSMLBenchConfig, rows,
              smoke=("--layers", "4x2", "--populations", "2", "--steps", "2", "--repeats", "1"),
              row_fields=("workload", "population", "pairs", "stream_steps", "ms_per_es_step",
                          "mticks_per_s", "matmul_bound_mticks_per_s",
                          "fraction_of_matmul_bound", "compile_s", "peak_rss_mb", "device"))
