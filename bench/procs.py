"""Child processes: one measured command (wall time, peak RSS, CPU), and the sandbox process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def child_env(**extra: str) -> dict[str, str]:
    """This environment without any VIPPS_* setting of the caller's, so only ours reach the exporter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPPS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


@dataclass
class Measured:
    argv: list[str]
    code: int
    wall_s: float
    peak_rss_mb: float  # ru_maxrss of the child alone (kilobytes on Linux)
    cpu_s: float  # user + system
    stdout: str
    stderr: str

    def check(self, what: str) -> Measured:
        if self.code != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{what} exited {self.code}: {' '.join(self.argv)}\n{tail}")
        return self

    def json(self) -> dict:
        """The last stdout line, which the bench.bare commands print as JSON."""
        return json.loads(self.stdout.strip().splitlines()[-1])

    def summary(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ("stdout", "stderr")}


def measure(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Measured:
    """Run argv to its end; wall time from start to reaping, rusage of that child from wait4."""
    cwd.mkdir(parents=True, exist_ok=True)
    with open(cwd / "stdout.txt", "w+", encoding="utf-8") as out, open(cwd / "stderr.txt", "w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            argv, proc.returncode, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.read(), err.read()
        )


class SandboxProcess:
    """`python -m bench.serve` as a child: its base URL, and its request counts on demand."""

    def __init__(
        self,
        folder: Path,
        *,
        ledgers: int,
        today: str,
        latency_ms: int,
        token_ttl: int | None,
        big: tuple[str, ...] = (),
    ) -> None:
        self.folder = folder
        self.argv = [
            PYTHON,
            "-m",
            "bench.serve",
            "--ledgers",
            str(ledgers),
            "--today",
            today,
            "--latency-ms",
            str(latency_ms),
            "--page-size",
            "1000",
        ]
        if token_ttl is not None:
            self.argv += ["--token-ttl", str(token_ttl)]
        for spec in big:
            self.argv += ["--big", spec]
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SandboxProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._err = open(self.folder / "sandbox-stderr.txt", "w+")  # noqa: SIM115 (closed in __exit__)
        self._proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=child_env(),
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
        )
        line = self._proc.stdout.readline()
        if not line.startswith("ready "):
            self.__exit__()
            raise RuntimeError(f"the sandbox did not start: {' '.join(self.argv)}\n{self._stderr()}")
        self.base_url = line.split()[1]
        return self

    def counts(self) -> dict:
        """Requests served so far and how (see bench.serve); the peak in flight is since the last call."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write("counts\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox died:\n{self._stderr()}")
        return json.loads(line)

    def _stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()[-3000:]

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stdin.close()  # its signal to stop
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self._err.close()


def delta(after: dict, before: dict) -> dict:
    """Requests served, the sandbox's CPU and time busy between two counts() answers; the peak in between."""
    kinds = {k: after["by_kind"].get(k, 0) - before["by_kind"].get(k, 0) for k in after["by_kind"]}
    return {
        "total": after["total"] - before["total"],
        "by_kind": {k: v for k, v in kinds.items() if v},
        "tokens_issued": after["tokens_issued"] - before["tokens_issued"],
        "sandbox_cpu_s": after["cpu_s"] - before["cpu_s"],
        "busy_s": after["busy_s"] - before["busy_s"],
        "peak_in_flight": after["peak_in_flight"],
    }
