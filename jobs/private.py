"""The state, its folder and the lock are readable by their owner only (0600, 0700), however they came to exist.

The state holds the page's password hashes and the key that signs its cookies, and the lock file names
the process that holds it. A file or folder made looser by someone else (an administrator's mkdir, a
copy, an old release) is tightened; if it cannot be, the run stops with one line that says what to do.
A folder is tightened only when it is the state's own: everything in it is named after the state (the
database, its -wal and -shm, the lock), so a shared folder such as a home or /var/lib is never changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from jobs.errors import ConfigError

FILE, FOLDER = 0o600, 0o700


def private_folder(folder: Path, state_name: str) -> None:
    """Create the state's folder private, or make an existing one private if it is the state's own."""
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if not mode & 0o077:
        return
    strangers = sorted(p.name for p in folder.iterdir() if not p.name.startswith(state_name))
    if strangers:
        raise ConfigError(
            f"the state's folder {folder} can be read by other users ({mode:04o}) and holds other files too "
            f"({', '.join(strangers[:3])}{', ...' if len(strangers) > 3 else ''}): give the state a folder of its "
            "own with [state] path or --state (e.g. state/report-export.sqlite3); report-export makes it private"
        )
    _tighten(folder, mode, FOLDER, lambda m: os.chmod(folder, m))


def private_file(fd: int, path: Path) -> None:
    """An open file of the state's (the database, the lock) made readable by its owner only."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    _tighten(path, mode, FILE, lambda m: os.fchmod(fd, m))


def private_path(path: Path) -> None:
    """The same for a file that may exist (the database's -wal and -shm files)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    _tighten(path, mode, FILE, lambda m: os.chmod(path, m))


def _tighten(path: Path, mode: int, wanted: int, chmod: Callable[[int], None]) -> None:
    if not mode & ~wanted & 0o777:
        return
    try:
        chmod(mode & wanted)
    except OSError as exc:
        raise ConfigError(
            f"{path} can be read by other users ({mode:04o}) and cannot be made private ({exc.strerror}): "
            f"run chmod {wanted:o} {path} as its owner, or point [state] path or --state elsewhere"
        ) from None
