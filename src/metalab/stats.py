"""Summary statistics shared by evaluation and reports: the mean and its 95% confidence interval."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def mean_ci95(values: Any) -> tuple[float, float]:
    """Mean of ``values`` (seeds, episodes, runs) and the half-width of its Student-t 95%
    confidence interval (exact for few seeds; about 1.96 standard errors for many); the
    half-width is 0 for a single value."""
    x = np.asarray(values, np.float64).ravel()
    if len(x) < 2:
        return float(x.mean()), 0.0
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)
