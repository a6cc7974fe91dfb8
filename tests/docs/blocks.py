"""Run the ```python blocks of one markdown page in order, in one namespace, like a notebook.

    python tests/docs/blocks.py docs/python.md

A block whose first line is ``# not run by tests: <reason>`` is skipped (and reported); the
reason must be given. Tracebacks point at the page's own line numbers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"#\s*not run by tests\b:?\s*(.*)")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line of the fence, code)`` for every ```python block of ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def skip_reason(code: str) -> str | None:
    """The stated reason if the block opts out of being run, else None."""
    first = code.strip().splitlines()[0] if code.strip() else ""
    match = SKIP.fullmatch(first.strip())
    if match is None:
        return None
    if not match.group(1).strip():
        raise ValueError("a block marked '# not run by tests:' must say why after the colon")
    return match.group(1).strip()


def run_page(path: Path) -> None:
    """Execute every block of ``path`` (skipped ones aside) in one shared namespace."""
    namespace: dict = {"__name__": "__main__"}
    for line, code in python_blocks(path.read_text()):
        reason = skip_reason(code)
        if reason is not None:
            print(f"[docs] {path.name}:{line} not run: {reason}")
            continue
        # padded so that the block's lines keep their line numbers in the page
        exec(compile("\n" * line + code, str(path), "exec"), namespace)  # noqa: S102


if __name__ == "__main__":
    run_page(Path(sys.argv[1]))
