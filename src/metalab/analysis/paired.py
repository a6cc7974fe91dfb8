"""Paired comparisons of two methods, one way everywhere a claim is tested.

``paired(a, b)`` takes both methods' values on the same seeds (and tasks, streams or episodes)
and returns the mean paired difference ``a - b`` with its 95% interval and a verdict in words;
``slope(x, y)`` does the same for the slope of ``log y`` against ``log x`` fitted per seed.

- ``unit="seeds"``: one value per seed (values given per task are first averaged within each
  seed); Student-t interval over seeds.
- ``unit="tasks"``: values given as ``[seeds, tasks]``; a percentile bootstrap that resamples
  tasks within each seed and averages over seeds. It holds the trained seeds fixed: the
  interval is over the evaluation tasks, not over retraining.

A verdict compares the interval with the claim's ``direction`` ("supported", "not
supported", else "inconclusive"):

- ``"greater"`` (``a > b``; ``"less"`` mirrors it): supported when the interval excludes 0
  above it, not supported when it excludes 0 below it or lies inside ``[-margin, margin]``
  (the difference is too small to matter);
- ``"at-least"`` (``a`` no worse than ``b - margin``; ``"at-most"`` mirrors it): supported
  when the interval lies above ``-margin``, not supported when it lies below it;
- ``"equal"`` (within ``margin``): supported when the interval lies inside
  ``[-margin, margin]``, not supported when it lies wholly outside it.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats

from metalab.errors import BadInput

Direction = Literal["greater", "less", "at-least", "at-most", "equal"]
DIRECTIONS = ("greater", "less", "at-least", "at-most", "equal")
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


class Paired(NamedTuple):
    """A paired difference (or slope) with its 95% interval and the verdict on the claim."""

    difference: float  # mean of a - b over the unit (or the mean slope)
    low: float  # 95% interval; nan with fewer than two seeds
    high: float
    n: int  # seeds (t interval) or seeds x tasks (bootstrap)
    unit: str  # "seeds" or "tasks"
    direction: str  # the claim (``DIRECTIONS``)
    verdict: str  # "supported", "not supported" or "inconclusive"


def verdict(low: float, high: float, direction: Direction = "greater",
            margin: float | None = None) -> str:
    """The verdict of the interval ``[low, high]`` on a claim of ``direction`` (module doc)."""
    _check(direction, margin, "seeds")
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if direction in ("at-least", "at-most", "equal"):
        m = float(margin)  # given: _check
        above, below = low > -m, high < m  # clear of each edge of the margin
        out_high, out_low = low > m, high < -m
        yes, no = {"at-least": (above, out_low), "at-most": (below, out_high),
                   "equal": (above and below, out_low or out_high)}[direction]
        return SUPPORTED if yes else NOT_SUPPORTED if no else INCONCLUSIVE
    within = margin is not None and -margin <= low and high <= margin
    sign = 1.0 if direction == "greater" else -1.0
    lo, hi = sorted((sign * low, sign * high))  # the claimed direction made positive
    if lo > 0:
        return SUPPORTED
    if hi < 0 or within:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def paired(a: Any, b: Any, *, unit: Literal["seeds", "tasks"] = "seeds",
           direction: Direction = "greater", margin: float | None = None,
           resamples: int = 10_000, seed: int = 0) -> Paired:
    """Mean paired difference ``a - b``, its 95% interval and the verdict (module doc).

    ``a`` and ``b``: ``[seeds]`` or ``[seeds, tasks]`` (``unit="tasks"`` takes ``[tasks]`` as
    one seed); the bootstrap draws ``resamples`` resamples from ``seed`` (deterministic)."""
    _check(direction, margin, unit)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0 or a.ndim > 2:
        raise BadInput("paired", f"give both methods' values on the same seeds (and tasks) as "
                       f"[seeds] or [seeds, tasks] arrays; got shapes {a.shape} and {b.shape}")
    d = a - b
    if unit == "seeds":
        per_seed = d.mean(axis=1) if d.ndim == 2 else d
        mean, low, high = _t_interval(per_seed)
        n = len(per_seed)
    else:
        d = d.reshape(1, -1) if d.ndim == 1 else d
        mean, low, high = _bootstrap(d, resamples, seed)
        n = d.size
    return Paired(mean, low, high, n, unit, direction, verdict(low, high, direction, margin))


def slope(x: Any, y: Any, *, direction: Direction = "less",
          margin: float | None = None) -> Paired:
    """Slope of ``log y`` against ``log x`` (least squares per seed), then its mean and
    Student-t interval over seeds, with the verdict on a slope of ``direction`` from 0.

    ``x``: ``[points]`` or ``[seeds, points]`` (e.g. mode strengths), ``y``: ``[seeds,
    points]`` (e.g. times to 50%). A seed with a non-finite or non-positive point (a mode
    never reached) has no slope and is left out, not fitted on the rest (which would hide
    the slowest modes); ``n`` counts the seeds used."""
    _check(direction, margin, "seeds")
    slopes = [s for s in seed_slopes(x, y) if np.isfinite(s)]
    if not slopes:
        nan = math.nan
        return Paired(nan, nan, nan, 0, "seeds", direction, INCONCLUSIVE)
    mean, low, high = _t_interval(np.asarray(slopes))
    return Paired(mean, low, high, len(slopes), "seeds", direction,
                  verdict(low, high, direction, margin))


def seed_slopes(x: Any, y: Any) -> np.ndarray:
    """Per seed, the least-squares slope of ``log y`` against ``log x`` (shapes as in
    ``slope``); NaN for a seed with a non-finite or non-positive point."""
    y = np.asarray(y, np.float64)
    y = y.reshape(1, -1) if y.ndim == 1 else y
    x = np.asarray(x, np.float64)
    if y.ndim != 2 or x.shape not in (y.shape, y.shape[1:]):
        raise BadInput("slope", f"give x as [points] or [seeds, points] and y as [seeds, "
                       f"points]; got shapes {x.shape} and {y.shape}")
    x = np.broadcast_to(x, y.shape)
    out = np.full(len(y), np.nan)
    for i, (xs, ys) in enumerate(zip(x, y, strict=True)):
        ok = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
        if ok.all() and np.ptp(np.log(xs)) > 0:
            out[i] = np.polyfit(np.log(xs), np.log(ys), 1)[0]
    return out


def _check(direction: str, margin: float | None, unit: str) -> None:
    if direction not in DIRECTIONS:
        raise BadInput("direction", f"got {direction!r}; choose from {', '.join(DIRECTIONS)}")
    if margin is not None and not margin > 0:
        raise BadInput("margin", f"got {margin}; give a positive equivalence margin")
    if direction in ("at-least", "at-most", "equal") and margin is None:
        raise BadInput("margin", f"a claim {direction!r} needs a margin (the difference "
                       "that does not matter)")
    if unit not in ("seeds", "tasks"):
        raise BadInput("unit", f"got {unit!r}; choose seeds or tasks")


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and Student-t 95% interval (nan bounds for one value)."""
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean, float(mean - half), float(mean + half)


def _bootstrap(d: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """Mean of ``d`` ``[seeds, tasks]`` and the 2.5/97.5 percentiles of the mean over seeds of
    per-seed task means, tasks resampled with replacement within each seed."""
    seeds, tasks = d.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, 2**21 // d.size)  # resamples drawn at a time (bounded memory)
    means = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, tasks, size=(min(chunk, resamples - start), seeds, tasks))
        means.append(np.take_along_axis(np.broadcast_to(d, idx.shape), idx, axis=2)
                     .mean(axis=(1, 2)))
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(d.mean()), float(low), float(high)
