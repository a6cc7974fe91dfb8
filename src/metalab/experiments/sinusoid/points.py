"""Sweep points of ``metalab sweep sinusoid`` that differ only in learning rates, trained as
one vmapped program.

Every member (a point's seed) has its own state on a leading axis and its own inner, outer
and mask learning rate, passed into the meta-step as numbers (``sinusoid.experiment.RATES``),
so P points x S seeds compile once per method instead of P x S times. Member (p, i) uses the
keys of seed ``seed + i``, exactly as the sequential run of that point and seed would, so the
results agree with separate runs to float tolerance. Training (``metrics.jsonl`` with one
``loss/<point>`` column per point, checkpoints) lives in the sweep folder under the stage
``<method>@<group>``; each point's folder gets its evaluation: summary (mean, ``/ci95`` and
``/seeds`` over seeds), figures and report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from metalab.experiments.sinusoid.experiment import (
    RATES,
    SinusoidConfig,
    evaluate,
    held_out,
    method_step,
    parts,
    write_outputs,
)
from metalab.learners.base import Meta
from metalab.runs.rundir import RunDir
from metalab.runs.seeds import Summary, aggregate
from metalab.runs.stage import train_stage
from metalab.training import init_state
from metalab.training.seeds import stack_states, vmap_seeds
from metalab.training.trainer import MetaStep, Metrics, Step, TrainState

Finish = Callable[[int, Callable[[RunDir], Summary]], Summary]


def run_points(configs: list[SinusoidConfig], seeds: int, rundir: RunDir, group: str,
               finish: Finish) -> list[Summary]:
    """Train ``configs`` (equal but for ``RATES``) over ``seeds`` seeds as one program per
    method in ``rundir``, then ``finish(p, write)`` writes point p's folder with ``write``
    (the sweep's ``run_sub``, which skips finished points); returns each point's summary."""
    base = configs[0]
    members = [(p, i) for p in range(len(configs)) for i in range(seeds)]
    lrs = {k: jnp.asarray([getattr(configs[p], k) for p, _ in members], jnp.float32)
           for k in RATES}
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(base.seed + i)) for _, i in members])
    metas: dict[str, Meta] = {}
    seconds: dict[str, float] = {}
    for method in base.methods:
        start = time.perf_counter()
        step = vmap_seeds(lambda key, r, m=method: method_step(m, base, key, r), keys[:, 1], lrs)
        init = stack_states(lambda key, r, m=method: init_state(*parts(m, base, r), key),
                            keys[:, 0], lrs)  # Meta-SGD starts its rates at inner_lr
        state = train_stage(
            rundir, f"{method}@{group}", init,
            _per_point_loss(step, len(configs), seeds), base.steps,
            chunk=base.log_every, checkpoint_every=base.checkpoint_every)
        metas[method] = state.meta
        seconds[method] = time.perf_counter() - start

    def write(p: int, sub: RunDir) -> Summary:
        per_seed, first = [], None
        for i in range(seeds):
            member = p * seeds + i  # the index of (p, i) in ``members``
            cfg = dataclasses.replace(configs[p], seed=base.seed + i)
            own = {m: jax.tree.map(lambda x, k=member: x[k], metas[m]) for m in base.methods}
            tasks = held_out(cfg)[0]
            scores, curves = {}, {}
            for m in base.methods:
                s, curves[m] = evaluate(m, cfg, own[m], tasks)
                scores |= s | {f"{m}/train_seconds": seconds[m]}
            per_seed.append(scores)
            first = first or (cfg, curves, own)
        summary = aggregate(per_seed) if seeds > 1 else per_seed[0]
        cfg, curves, own = first
        write_outputs(cfg, sub, curves, own, summary, note=_note(group, seeds, len(configs)))
        return summary

    return [finish(p, lambda sub, p=p: write(p, sub)) for p in range(len(configs))]


def _per_point_loss(step: Step, points: int, seeds: int) -> Step:
    """The vmapped meta-step also reporting ``loss/p<k>``, point k's loss as the mean over
    seeds, or with one point each seed's ``loss/seed<i>`` (a ``MetaStep`` stays one, so its
    inputs are still drawn ahead)."""

    def add(out: tuple[TrainState, Metrics]) -> tuple[TrainState, Metrics]:
        state, metrics = out
        loss = metrics["loss"]
        if points == 1:
            return state, {**metrics, **{f"loss/seed{i}": loss[i] for i in range(seeds)}}
        per_point = loss.reshape(points, seeds).mean(axis=1)
        return state, {**metrics, **{f"loss/p{k}": per_point[k] for k in range(points)}}

    if isinstance(step, MetaStep):
        update = step.update
        return MetaStep(step.draw, lambda state, inputs: add(update(state, inputs)))
    return lambda state: add(step(state))


def _note(group: str, seeds: int, points: int) -> str:
    if points == 1:
        return (f" Its {seeds} seeds were trained as one vmapped program per method; "
                "`metrics.jsonl` logs their mean `loss` and each seed's `loss/seed<i>`, and "
                "`train_seconds` is the time of all seeds together.")
    return (f" Trained with the sweep's other {points - 1} point(s) of group `{group}` as one "
            f"vmapped program ({seeds} seed(s) each); training curves: the sweep folder's "
            f"`metrics.jsonl`, stage `<method>@{group}`, column `loss/p<k>` for point k. "
            "`train_seconds` is the whole group's training time.")

