"""`report-export serve` and `report-export users`: the accountants' export page and who may sign in."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from jobs import config
from jobs.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from jobs.cli import Runtime


def cmd_serve(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.cli import SCHEDULED_RUN, cmd_run, reported_errors
    from jobs.web.app import Web
    from jobs.web.serve import serve

    settings.require_credentials()
    web = Web(settings, args.state or settings.state_path, runtime.context,
              today=(lambda: runtime.today) if runtime.today else None)  # fmt: skip
    schedule = None
    if args.schedule:
        from jobs.schedule import run_scheduler

        catch_up = argparse.Namespace(**{**vars(args), **SCHEDULED_RUN})

        def job() -> None:
            with reported_errors():
                cmd_run(catch_up, settings, runtime, trigger="schedule")

        def schedule(stop):
            return run_scheduler(settings.schedule, job, stop)

    return serve(web, args.host or settings.web.host, settings.web.port if args.port is None else args.port,
                 schedule=schedule)  # fmt: skip


def cmd_users(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.state import State
    from jobs.web.auth import hash_password

    if args.action != "list" and not (args.name and export_id(args.name)):
        raise UsageError(f"users {args.action} needs a NAME of letters, digits, '.', '_' or '-' (at most 64)")
    with State(args.state or settings.state_path) as state:
        if args.action == "list":
            for user in state.users():
                print(f"{user['name']}  added {user['createdAt']}, password set {user['passwordChangedAt']}")
            return EXIT_OK
        if args.action == "remove":
            if not state.remove_user(args.name):
                raise UsageError(f"no user {args.name}: see report-export users list")
            print(f"report-export users: removed {args.name}; their sessions end with their next request")
            return EXIT_OK
        exists = state.password_hash(args.name) is not None
        if args.action == "add" and exists:
            raise UsageError(f"user {args.name} exists: use users password {args.name} to change the password")
        if args.action == "password" and not exists:
            raise UsageError(f"no user {args.name}: add them with users add {args.name}")
        state.set_user(args.name, hash_password(new_password(args.password_stdin)))
    print(f"report-export users: {'added' if args.action == 'add' else 'new password for'} {args.name}")
    return EXIT_OK


def export_id(name: str) -> bool:
    return len(name) <= 64 and all(c.isalnum() or c in "._-" for c in name) and name[0].isalnum()


def new_password(from_stdin: bool) -> str:
    """Asked twice on a terminal, never echoed; or one line from standard input for scripts."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ: try again")
    if len(password) < 12:
        raise UsageError("the password is shorter than 12 characters: choose a longer one")
    return password
