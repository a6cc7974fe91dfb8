"""Progress off a terminal (a SLURM log): plain periodic lines with step, loss, elapsed time."""

import io

from metalab.runs.progress import PlainProgress, progress_bar


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_lines_are_periodic_and_carry_step_loss_and_elapsed_time():
    out, clock = io.StringIO(), Clock()
    advance = PlainProgress("maml", 40, out, every=30.0, done=10, clock=clock)
    for t, loss in ((5.0, 2.5), (20.0, 2.0), (40.0, 1.5), (50.0, 1.25), (90.0, 1.0), (91.0, 0.5)):
        clock.now = 100.0 + t
        advance(5, {"grad_norm": 9.0, "loss": loss})
    lines = out.getvalue().splitlines()
    # the first update, then one per 30 s (at 40 s and 90 s: 20 s and 50 s are too soon),
    # and the last one at once
    assert lines == [
        "maml: step 15/40 (38%), loss 2.5, elapsed 5.0 s, eta 25 s",
        "maml: step 25/40 (62%), loss 1.5, elapsed 40.0 s, eta 40 s",
        "maml: step 35/40 (88%), loss 1, elapsed 90.0 s, eta 18 s",
        "maml: step 40/40 (100%), loss 0.5, elapsed 91.0 s",
    ]


def test_progress_bar_off_a_terminal_prints_lines_not_a_bar(monkeypatch):
    monkeypatch.setenv("METALAB_PROGRESS_SECONDS", "0")
    out = io.StringIO()  # isatty() is False, as for a file SLURM writes
    with progress_bar("stage", 3, stream=out) as advance:
        for _ in range(3):
            advance(1, {"loss": 0.25})
    text = out.getvalue()
    assert text.splitlines()[-1].startswith("stage: step 3/3 (100%), loss 0.25, elapsed ")
    assert len(text.splitlines()) == 3 and "\x1b" not in text and "━" not in text


def test_progress_bar_on_a_terminal_draws_a_bar():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    with progress_bar("stage", 3, stream=out) as advance:
        advance(3, {"loss": 0.25})
    assert "stage" in out.getvalue() and "3/3" in out.getvalue()
    assert "loss" not in out.getvalue()


def test_a_ctrl_c_swallowed_by_a_callback_is_raised_at_the_next_update():
    """JAX's garbage-collection callbacks print and drop an exception raised inside them;
    the interrupt must still stop the work at the next progress update."""
    import os
    import signal

    import pytest

    from metalab.runs.progress import watch_interrupts

    out = io.StringIO()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started us in the background
    with watch_interrupts():
        with progress_bar("stage", 3, stream=out) as advance:
            advance(1)
            try:  # as in a callback whose exceptions are ignored
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            except KeyboardInterrupt:
                pass
            with pytest.raises(KeyboardInterrupt):
                advance(1)
    with progress_bar("after", 2, stream=io.StringIO()) as advance:
        advance(2)  # nothing pending once the block is left
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored
