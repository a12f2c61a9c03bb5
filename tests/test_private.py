"""The state, its folder, its -wal and -shm files and the lock are private however they came to exist: the
state holds password hashes and the key that signs the page's cookies. Real files, real commands."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from jobs.lock import run_lock
from jobs.state import State


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose_state(folder: Path) -> Path:
    """A state as an administrator's mkdir, a copy or an old release may leave it: readable by everyone."""
    path = folder / "report-export.sqlite3"
    State(path).close()
    folder.chmod(0o755)
    path.chmod(0o644)
    (folder / f"{path.name}.lock").touch(mode=0o644)
    (folder / f"{path.name}.lock").chmod(0o644)
    return path


def test_a_loose_state_folder_file_and_lock_are_made_private(workdir, run_cli):
    path = loose_state(workdir / "state")
    with closing(sqlite3.connect(path)) as other:  # another reader keeps the -wal and -shm files there
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE scratch (x)")
        journals = [path.parent / f"{path.name}-wal", path.parent / f"{path.name}-shm"]
        for journal in journals:
            journal.chmod(0o644)
        assert run_cli("users", "list").code == 0  # any command that opens the state
        assert mode(path.parent) == 0o700 and mode(path) == 0o600 and [mode(j) for j in journals] == [0o600] * 2
    lock = path.parent / f"{path.name}.lock"
    lock.chmod(0o644)
    with run_lock(lock, wait=False):
        assert mode(lock) == 0o600


def test_a_new_state_is_private_whatever_the_umask(workdir, run_cli):
    old = os.umask(0o000)
    try:
        assert run_cli("users", "list").code == 0
        with run_lock(workdir / "state" / "report-export.sqlite3.lock", wait=False):
            pass
    finally:
        os.umask(old)
    folder = workdir / "state"
    assert mode(folder) == 0o700 and {mode(p) for p in folder.iterdir()} == {0o600}


def test_a_shared_folder_is_refused_and_left_as_it_is(workdir, run_cli):
    shared = workdir / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("someone else's")
    result = run_cli("users", "list", "--state", "shared/report-export.sqlite3")
    assert result.code == 3 and "holds other files too (notes.txt)" in result.err
    assert "give the state a folder of its own" in result.err and "Traceback" not in result.err
    assert mode(shared) == 0o755 and sorted(p.name for p in shared.iterdir()) == ["notes.txt"]


def test_a_file_that_cannot_be_made_private_is_refused_in_one_line(workdir, run_cli):
    path = loose_state(workdir / "state")
    path.parent.chmod(0o700)  # the folder is the state's own, so only the file is left
    if os.geteuid() != 0:
        pytest.skip("only root can make a file that its owner cannot chmod (chattr +i); CI runs as root")
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        result = run_cli("users", "list")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert result.code == 3 and "can be read by other users (0644) and cannot be made private" in result.err
    assert "chmod 600 state/report-export.sqlite3" in result.err and len(result.err.strip().splitlines()) == 1


def test_status_looks_without_changing_anything(workdir, run_cli):
    path = loose_state(workdir / "state")
    assert run_cli("status").code == 0
    assert mode(path.parent) == 0o755 and mode(path) == 0o644
