"""The in-process schedule: one APScheduler 3.x BlockingScheduler running the catch-up.

build_scheduler() only builds; run_scheduler() is the one place that starts it, and stops it on
SIGTERM/SIGINT (jobs.signals): the running export sees `stop`, finishes its current step, and the
scheduler shuts down waiting for it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

import jobs
from jobs.config import Schedule, Settings
from jobs.cron import cron_trigger
from jobs.signals import stop_on_signals

JOB_ID = "catch-up"

log = logging.getLogger("jobs")


def build_scheduler(schedule: Schedule, job: Callable[[], object], *, first_run_now: bool = False) -> BlockingScheduler:
    """A scheduler, not started, that calls job() on schedule.cron in schedule.timezone."""
    trigger = _trigger(schedule)
    scheduler = BlockingScheduler(
        timezone=schedule.timezone,
        # One worker: a run that overlaps the next fire time is skipped, never run alongside.
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": schedule.misfire_grace_seconds,
        },
    )
    options = {"next_run_time": dt.datetime.now(schedule.timezone)} if first_run_now else {}
    scheduler.add_job(
        job,
        trigger,
        id=JOB_ID,
        name=JOB_ID,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=schedule.misfire_grace_seconds,
        **options,
    )
    scheduler.add_listener(_log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def run_scheduler(
    schedule: Schedule, job: Callable[[], object], stop: threading.Event, *, first_run_now: bool = False
) -> int:
    """Run until SIGTERM or SIGINT, then return 0 once the running job has returned.

    Call from the main thread (Python only delivers signals there). `stop` is set on the
    first signal; the job should poll it between units of work and return early.
    """
    scheduler = build_scheduler(schedule, job, first_run_now=first_run_now)
    started = threading.Event()

    def on_started(event: SchedulerEvent) -> None:
        next_run = scheduler.get_job(JOB_ID).next_run_time
        log.info(
            "schedule started (cron %r, %s): next run at %s",
            schedule.cron,
            schedule.timezone,
            f"{next_run:%Y-%m-%d %H:%M %Z}",
        )
        started.set()

    scheduler.add_listener(on_started, EVENT_SCHEDULER_STARTED)

    def shut_down() -> None:
        started.wait()
        try:
            scheduler.remove_all_jobs()  # so no run is submitted to the closing executor
            scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:  # start() failed: nothing to stop
            pass

    with stop_on_signals(stop, "stopping after the running export's current step", then=shut_down):
        try:
            scheduler.start()  # returns after shut_down's shutdown(wait=True), i.e. after the job
        finally:
            started.set()  # start() failed: shut_down has nothing to wait for
    log.info("schedule stopped")
    return 0


def crontab_line(settings: Settings, state: Path | None = None) -> str:
    """The crontab lines that run the catch-up at this installation's minute. Cron starts a job in $HOME with a
    bare environment, so every path is absolute; without a config file the job runs in this folder, whose .env,
    state and reports the interactive run used. flock keeps a slow run from being started twice."""
    config_file = settings.config_file
    folder = Path(os.path.abspath(config_file.parent if config_file else Path.cwd()))
    python = os.path.abspath(sys.executable)
    script = Path(python).parent / "report-export"
    if script.is_file():
        command = [str(script)]
    else:  # a checkout run with `python -m jobs`: cron's python must find the package wherever it starts
        command = ["env", f"PYTHONPATH={Path(jobs.__file__).parent.parent.absolute()}", python, "-m", "jobs"]
    command += ["run", "--quiet"]
    if config_file is not None:
        command += ["--config", os.path.abspath(config_file)]
    if state is not None:
        command += ["--state", os.path.abspath(state)]
    command += ["--log-file", str(folder / "report-export.log")]
    line = f"flock -n {shlex.quote(str(folder / 'cron.lock'))} {shlex.join(command)}"
    if config_file is None:
        line = f"cd {shlex.quote(str(folder))} && {line}"
    # A bare % in a crontab line ends its command: escaped, it is a %.
    return f"CRON_TZ={settings.schedule.timezone}\n{settings.schedule.cron} " + line.replace("%", "\\%")


def _trigger(schedule: Schedule) -> CronTrigger:
    return cron_trigger(schedule.cron, schedule.timezone)  # config.load checked a configured one already


def _log_job_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("scheduled run at %s missed by more than the misfire grace time: skipped", event.scheduled_run_time)
        return
    exc = event.exception
    message = str(exc).splitlines()[0] if str(exc) else ""
    log.error("scheduled run at %s failed: %s: %s", event.scheduled_run_time, type(exc).__name__, message)
