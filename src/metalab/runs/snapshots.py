"""Training a stage with snapshots along the way: the meta-parameters at several meta-steps,
each kept in its own checkpoint, so an analysis can follow how what was learned changes over
training and a resumed run analyses the same snapshots."""

from __future__ import annotations

from typing import Any

from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.training.trainer import Step, TrainState

Snapshots = list[tuple[int, Any]]  # (meta-step, meta-parameters), in order


def snapshot_steps(total: int, count: int, unit: int) -> list[int]:
    """``count`` meta-steps spread evenly up to ``total`` (multiples of ``unit``, then
    ``total`` itself), where the meta-learner is kept for analysis."""
    points = {max(unit, round(total * (i + 1) / count / unit) * unit) for i in range(count - 1)}
    return sorted(p for p in points if p < total) + [total]


def train_snapshots(rundir: RunDir, name: str, init: TrainState, step: Step, total: int, *,
                    count: int, chunk: int, checkpoint_every: int) -> Snapshots:
    """Train stage ``name`` to each of ``count`` snapshot steps up to ``total`` in turn
    (``snapshot_steps``, multiples of ``chunk``), keeping the meta-parameters there in their
    own checkpoint (so a resumed run analyses the same snapshots). A snapshot the stage has
    already trained past without keeping (a resumed run with other settings) is left out,
    never filled with a later state."""
    out = []
    for n in snapshot_steps(total, count, chunk):
        keep = rundir.checkpointer(f"{name}-at-{n}")
        if keep.info() is None:
            state = train_stage(rundir, name, init, step, n, chunk=chunk,
                                checkpoint_every=checkpoint_every)
            if int(state.step) != n:
                continue
            keep.save(state.meta, n)
        else:  # not retrained: keep (confirm) the stage's logged lines up to the snapshot
            rundir.rewind(name, n)
        out.append((n, keep.restore(init.meta)))
    return out
