"""What the effort experiments read off a run: when modes are learned, how much a task is
forgotten across blocks, the easy-first / sustained-later pattern of a per-mode gain, and how
alike the tasks' gates are (Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919)."""

from __future__ import annotations

import jax
import numpy as np

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import TaskCovariances, effective
from metalab.effort.modes import half_max_width
from metalab.effort.value import Setting, evaluate, value_of


def analyse(control: Control, tasks: TaskCovariances, w0: Weights, setting: Setting):
    """(value, performance [T], cost [T], effective weights along the run) of a control."""
    v, traj = evaluate(control, tasks, w0, setting)
    _, performance, cost = value_of(traj, control, setting)
    eff = jax.vmap(lambda w, g: effective(w, Control(gain=g)))(
        traj.weights, control.gain)
    return v, performance, cost, eff


def halfway_times(strengths: np.ndarray, s: np.ndarray, dt: float) -> np.ndarray:
    """First time each mode reaches half its singular value (inf if never)."""
    reached = strengths >= 0.5 * s[None]
    return np.where(reached.any(0), np.argmax(reached, axis=0) * dt, np.inf)


def forgetting(losses: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Rise of the resting task's loss over each block after the first [blocks - 1], for two
    tasks trained in alternating blocks (``block`` [T]: the block index of every step)."""
    out = []
    for b in range(1, block.max() + 1):
        steps = np.flatnonzero(block == b)
        resting = 1 - b % 2  # block b trains task b % 2
        end = min(steps[-1] + 1, len(losses) - 1)
        out.append(losses[end, resting] - losses[steps[0], resting])
    return np.asarray(out)


CLASSES = ("neither", "easy-first only", "sustained-later only", "both", "weakest abandoned")
"""the classes of ``classify``, by index"""


def classify(gain: np.ndarray, dt: float, abandon_below: float) -> dict[str, float]:
    """Peak times, half-maximum widths and the class index (``CLASSES``) of one [T, modes]
    gain, modes from strong to weak: easy-first when the peak times do not decrease,
    sustained-later when the widths do not and the weakest is wider than the strongest."""
    peaks = np.argmax(gain, axis=0) * dt
    widths = half_max_width(gain, dt)
    easy = bool(np.all(np.diff(peaks) >= 0))
    sustained = bool(np.all(np.diff(widths) >= 0) and widths[-1] > widths[0])
    abandoned = bool(gain[:, -1].max() < abandon_below)
    cls = 4 if abandoned else int(easy) + 2 * int(sustained)
    out = {"class": float(cls), "easy_first": float(easy), "sustained_later": float(sustained)}
    for i, (p, w) in enumerate(zip(peaks, widths, strict=True)):
        out[f"peak_time/mode_{i}"], out[f"width/mode_{i}"] = float(p), float(w)
    return out


def gate_similarity(phi: np.ndarray) -> np.ndarray:
    """Cosine between the tasks' gate vectors [K, K], time-averaged over phi [T, K, h]."""
    norm = np.linalg.norm(phi, axis=2, keepdims=True)
    unit = phi / np.maximum(norm, 1e-12)
    return np.einsum("tkh,tjh->kj", unit, unit) / len(phi)
