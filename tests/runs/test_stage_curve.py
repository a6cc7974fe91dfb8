"""``stage_curve`` reads one column of one stage back from ``metrics.jsonl``."""

import numpy as np

from metalab.runs.curves import stage_curve
from metalab.runs.rundir import RunDir


def test_stage_curve_reads_one_stage_column(tmp_path):
    run = RunDir(tmp_path)
    for step, (a, b) in enumerate([(1.0, 9.0), (2.0, 8.0), (4.0, 7.0)]):
        run.log({"stage": "gain", "step": step, "value": a})
        run.log({"stage": "other", "step": step, "value": b})
    steps, values = stage_curve(run, "gain", "value")
    np.testing.assert_array_equal(steps, [0, 1, 2])
    np.testing.assert_allclose(values, [1.0, 2.0, 4.0])
    assert [len(a) for a in stage_curve(run, "missing", "value")] == [0, 0]
