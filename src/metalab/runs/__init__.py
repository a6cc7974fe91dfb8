"""Run infrastructure shared by every experiment: the experiment record, the run folder,
training stages with checkpoints and resume, progress bars and figures."""

from metalab.runs.claim import open_run as open_run
from metalab.runs.experiment import Experiment as Experiment
from metalab.runs.progress import progress_bar as progress_bar
from metalab.runs.rundir import RunDir as RunDir
from metalab.runs.stage import train_seeds as train_seeds
from metalab.runs.stage import train_stage as train_stage

__all__ = ["Experiment", "RunDir", "open_run", "progress_bar", "train_seeds", "train_stage"]
