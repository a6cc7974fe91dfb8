"""The smoke budget every learning-effort experiment shares (the options, their validation
and the SGD re-simulation are ``metalab.effort.options``; control optimisation as a run
stage is ``metalab.runs.ascent``)."""

SMOKE_BUDGET = ("--horizon", "1", "--dt", "0.1", "--opt-steps", "2", "--log-every", "1",
                "--checkpoint-every", "2")
"""the tiny budget of every effort experiment's smoke run: 10 Euler steps, 2 ascent steps"""
SMOKE_SGD = ("--sgd-seeds", "1", "--sgd-batch", "4")
"""one small SGD re-simulation (effort-gain's smoke run; the other re-simulating experiments
add --no-resimulate)"""
