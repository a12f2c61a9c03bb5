"""`report-export serve` and `report-export users`: the accountants' export page and who may sign in."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import secrets
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from jobs import config, users
from jobs.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from jobs.cli.runtime import Runtime
    from jobs.state import State


def cmd_serve(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.cli.run import scheduled_job
    from jobs.web.serve import serve
    from jobs.web.site import Web

    settings.require_credentials()
    day = runtime.today
    web = Web(settings, args.state or settings.state_path, runtime.context, today=(lambda: day) if day else None)
    schedule: Callable[[threading.Event], int] | None = None
    if args.schedule:
        from jobs.schedule import run_scheduler

        job = scheduled_job(settings, runtime, args.quiet)

        def schedule(stop: threading.Event) -> int:
            return run_scheduler(settings.schedule, job, stop)

    return serve(
        web, args.host or settings.web.host, settings.web.port if args.port is None else args.port, schedule=schedule
    )


USER_ACTIONS = ("add", "list", "remove", "password", "sign-out", "log", "rotate-key")


def cmd_users(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.state import State

    if args.action in ("add", "remove", "password") and not args.name:
        raise UsageError(f"users {args.action} needs a NAME: e.g. report-export users {args.action} kari")
    if args.action == "sign-out" and bool(args.name) == args.all:
        raise UsageError("users sign-out needs a NAME, or --all for everyone")
    with State(args.state or settings.state_path) as state:
        said = USERS[args.action](args, state, settings)
    if said:  # a listing is only the list, for scripts
        print(f"report-export users: {said}")
    return EXIT_OK


def users_list(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    for user in state.web.users():
        print(f"{user.name}  added {user.created_at}, password set {user.password_changed_at}")
    return ""


def users_add(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    if problem := users.name_problem(args.name):
        raise UsageError(f"{problem}; choose another name")
    if found := state.web.find_user(args.name):
        raise UsageError(
            f"user {found[0]} exists (names are compared ignoring case and width): use "
            f"users password {found[0]} to change the password"
        )
    name = users.stored_name(args.name)
    state.web.add_user(name, users.hash_password(new_password(args.password_stdin, name)))
    return f"added {name}"


def users_password(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    name = known(state, args.name)
    ended = state.web.change_password(name, users.hash_password(new_password(args.password_stdin, name)))
    return f"new password for {name}; {sessions(ended)} ended, and failed sign-ins for the name forgiven"


def users_remove(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    name = known(state, args.name)
    state.web.remove_user(name)
    return f"removed {name}; their sessions are ended"


def users_sign_out(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    if args.all:
        return f"{sessions(state.web.end_sessions())} ended: everyone signs in again"
    name = known(state, args.name)
    return f"{sessions(state.web.end_sessions(name))} of {name} ended"


def users_rotate_key(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    ended = state.web.rotate_secret(secrets.token_hex(32))
    return f"a new key signs the page's cookies; {sessions(ended)} ended: everyone signs in again"


def users_log(args: argparse.Namespace, state: State, settings: config.Settings) -> str:
    """Sign-ins on the page, newest first, in the configured time zone."""
    for at, name, address, ok in state.web.signin_log(max(args.limit, 1)):
        when = dt.datetime.fromtimestamp(at, settings.timezone).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {'signed in' if ok else 'failed   '}  {name}  from {address}")
    return ""


USERS: dict[str, Callable[[argparse.Namespace, State, config.Settings], str]] = {
    "list": users_list,
    "add": users_add,
    "password": users_password,
    "remove": users_remove,
    "sign-out": users_sign_out,
    "rotate-key": users_rotate_key,
    "log": users_log,
}


def known(state: State, name: str) -> str:
    found = state.web.find_user(name)
    if found is None:
        raise UsageError(f"no user {name}: see report-export users list")
    return found[0]


def sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


def new_password(from_stdin: bool, name: str) -> str:
    """Asked twice on a terminal, never echoed; or one line from standard input for scripts."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ: try again")
    if problem := users.password_problem(password, name):
        raise UsageError(users.PASSWORD_PROBLEMS[problem])
    return password
