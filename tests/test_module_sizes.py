"""No module of jobs/ outside the sandbox passes about 400 lines (issue 20): past that, a module holds
more than one noun, and should be split by them."""

from __future__ import annotations

from pathlib import Path

JOBS = Path(__file__).resolve().parents[1] / "jobs"
LIMIT = 400


def test_no_module_outside_the_sandbox_passes_the_limit() -> None:
    sizes = {
        path.relative_to(JOBS.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in JOBS.rglob("*.py")
        if "sandbox" not in path.relative_to(JOBS).parts
    }
    over = {name: lines for name, lines in sizes.items() if lines > LIMIT}

    assert len(sizes) > 50  # every module was read
    assert not over, f"over {LIMIT} lines, split by their nouns: {over}"
