"""Learning effort: optimal control of learning through the average dynamics of linear
networks (Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919)."""

from metalab.effort.controls import SIGNALS as SIGNALS
from metalab.effort.controls import Bounds as Bounds
from metalab.effort.controls import Control as Control
from metalab.effort.controls import Weights as Weights
from metalab.effort.controls import effort as effort
from metalab.effort.controls import neutral as neutral
from metalab.effort.controls import project as project
from metalab.effort.controls import tangent as tangent
from metalab.effort.dynamics import TaskCovariances as TaskCovariances
from metalab.effort.dynamics import Trajectory as Trajectory
from metalab.effort.dynamics import from_teachers as from_teachers
from metalab.effort.dynamics import simulate as simulate
from metalab.effort.dynamics import task_losses as task_losses
from metalab.effort.dynamics import velocity as velocity
from metalab.effort.empirical import fixed_batch as fixed_batch
from metalab.effort.empirical import gaussian_batches as gaussian_batches
from metalab.effort.empirical import simulate_sampled as simulate_sampled
from metalab.effort.empirical import training_loss as training_loss
from metalab.effort.modes import decoupled_init as decoupled_init
from metalab.effort.modes import half_max_width as half_max_width
from metalab.effort.modes import mode_gain as mode_gain
from metalab.effort.modes import mode_strengths as mode_strengths
from metalab.effort.modes import mode_task as mode_task
from metalab.effort.modes import sigmoid_mode as sigmoid_mode
from metalab.effort.optimise import ascent_step as ascent_step
from metalab.effort.optimise import maximise as maximise
from metalab.effort.resimulate import data_sampler as data_sampler
from metalab.effort.resimulate import gaussian_task_sampler as gaussian_task_sampler
from metalab.effort.resimulate import simulated_value as simulated_value
from metalab.effort.value import Setting as Setting
from metalab.effort.value import cost as cost
from metalab.effort.value import discounted as discounted
from metalab.effort.value import evaluate as evaluate
from metalab.effort.value import held_out_losses as held_out_losses
from metalab.effort.value import value_of as value_of
