"""Figures against their targets, the results table, and the facts of the machine it ran on."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | None  # None: not measured
    unit: str  # "x", "MB", "s", "tokens", "rows"
    target: str = ""  # e.g. "<= 1.25x"; empty: shown for information
    ok: bool | None = None  # None: no target
    detail: str = ""

    @property
    def result(self) -> str:
        if self.value is None:
            return "SKIP"
        return "info" if self.ok is None else "PASS" if self.ok else "FAIL"

    def shown(self) -> str:
        if self.value is None:
            return "-"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.unit in ("tokens", "rows"):
            return f"{self.value:.0f}"
        return f"{self.value:.1f} {self.unit}"


def at_most(name: str, value: float, limit: float, unit: str, detail: str = "") -> Figure:
    shown = f"{limit:g}x" if unit == "x" else f"{limit:g} {unit}".rstrip()
    return Figure(name, value, unit, f"<= {shown}", value <= limit, detail)


def at_least(name: str, value: float, limit: float, detail: str = "") -> Figure:
    return Figure(name, value, "x", f">= {limit:g}x", value >= limit, detail)


def info(name: str, value: float | None, unit: str, detail: str = "") -> Figure:
    return Figure(name, value, unit, "", None, detail)


def table(figures: list[Figure]) -> str:
    rows = [("figure", "measured", "target", "result", "detail")]
    rows += [(f.name, f.shown(), f.target or "-", f.result, f.detail) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=False)) + "  " + row[4]
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths) + "  ------")
    return "\n".join(line.rstrip() for line in lines)


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), "")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": round(memory, 1),
        "python": sys.version.split()[0],
        "lxml": importlib.util.find_spec("lxml") is not None,  # openpyxl's bare-writer speed depends on it
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def as_json(figures: list[Figure]) -> list[dict]:
    return [{**asdict(f), "result": f.result} for f in figures]
