"""One run at a time: an exclusive flock on a file beside the state database.

cron, the scheduler and accountants' on-demand runs all take the same lock, so
two runs never write the same report file or state row at once. The kernel
drops a flock when its process dies, even by SIGKILL: a lock is never stale.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobs.errors import ConfigError, LockHeld
from jobs.state import now_utc


@contextmanager
def run_lock(path: Path, *, wait: bool) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot open the lock file {path}: {exc.strerror}; make its folder writable for this user, "
            "or point [state] path or --state elsewhere (the lock sits beside the state)"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another run"
            raise LockHeld(f"{holder} holds {path}: try again later, or add --wait to queue behind it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"report-export pid {os.getpid()} since {now_utc()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
