"""Learning-dynamics analysis: what a learner picks up, in which order, against Bayes.

Pass any learner's predictions (or weights) over time: progress per singular mode of a linear
task or per Fourier frequency of a function, time to 50% / 90% of each mode, the Bayes-optimal
learner of a linear-Gaussian task family, the similarity of a trajectory to Bayes
(Saxe et al. 2014; Rabinowitz 2019), and a bandit policy's probability of each mode's best
arm (``policy``). See docs/learning-dynamics.md. ``paired`` and ``slope``
decide a paper's claim from two methods' values on the same seeds and tasks (docs/claims.md).
"""

from metalab.analysis.bayes import posterior_factor, posterior_mean, posterior_trajectory
from metalab.analysis.fourier import fourier_coefficients, frequency_grid
from metalab.analysis.modes import (
    linear_map_from_predictions,
    mode_coefficients,
    mode_progress,
    mode_time_ratio,
    scaled_progress,
    threshold_times,
)
from metalab.analysis.paired import Paired, paired, slope, verdict
from metalab.analysis.policy import posterior_mode_sd, sign_progress, softmax_best_arm_progress
from metalab.analysis.similarity import at_progress, overall_progress, trajectory_similarity
from metalab.analysis.trajectories import bayes_predictions, gradient_trajectory

__all__ = [
    "Paired", "at_progress", "bayes_predictions", "fourier_coefficients", "frequency_grid",
    "gradient_trajectory", "linear_map_from_predictions", "mode_coefficients", "mode_progress",
    "mode_time_ratio", "overall_progress", "paired", "posterior_factor", "posterior_mean",
    "posterior_mode_sd", "posterior_trajectory", "scaled_progress", "sign_progress", "slope",
    "softmax_best_arm_progress", "threshold_times", "trajectory_similarity", "verdict",
]
