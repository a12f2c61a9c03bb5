"""One run at a time: an exclusive flock on a file beside the state database.

cron, the scheduler and accountants' on-demand runs all take the same lock, so
two runs never write the same report file or state row at once. The kernel
drops a flock when its process dies, even by SIGKILL: a lock is never stale.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from jobs.errors import ConfigError, DiskFull, LockHeld
from jobs.private import FILE, private_file, private_folder
from jobs.state.db import now_utc


def lock_for(state: Path) -> Path:
    """The lock beside a state: every run, and a rebuild of the state, take it."""
    return Path(f"{state}.lock")


@contextmanager
def run_lock(path: Path, *, wait: bool, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock for the block. Busy: LockHeld, or with `wait` queue behind the holder, first telling
    `on_wait` who holds it (the web page shows that its export waits behind the nightly run)."""
    try:
        private_folder(path.parent, path.name.removesuffix(".lock"))  # the lock names who holds it: private too
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE)
    except OSError as exc:
        raise ConfigError(
            f"cannot open the lock file {path}: {exc.strerror}; make its folder writable for this user, "
            "or point [state] path or --state elsewhere (the lock sits beside the state)"
        ) from None
    try:
        private_file(fd, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another run"
            if not wait:
                raise LockHeld(f"{holder} holds {path}: try again later, or add --wait to queue behind it") from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"report-export pid {os.getpid()} since {now_utc()}".encode(), 0)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise DiskFull(
                f"disk full: the lock file {path} cannot be written ({exc.strerror}): free space on its file system, "
                "then run again"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
