"""Exports started from the page, running in the background: Job, one export from submit to its run's end, and
Exports, those of this server.

An export is a thread running runner.execute, the same code as `report-export run --from --to`,
with the same lock: behind the nightly run it waits (and says so), and while it runs, cron and
the command line queue or skip exactly as they do for each other.

Each export writes into a folder of its own under [web] exports, never into the output folder the
nightly run and the bookkeeping imports read, and records nothing the catch-up reads (see
RunRequest.records_dates): two accountants exporting the same dates with other choices each get
their own files. A folder is kept unchanged for [web] keep_days after its export ended, then removed;
from then on its links say that it has expired.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import url_for
from flask_babel import gettext

from jobs import runner
from jobs.api import ReportApi
from jobs.errors import ReportExportError
from jobs.request import RunRequest
from jobs.web import language
from jobs.web.downloads import expired, own_folder
from jobs.web.runs import describe
from jobs.web.site import Web

log = logging.getLogger("jobs")
WAITERS = 4  # progress requests waiting at once; more are answered at once (waitress has 8 threads)


@dataclass
class Job:
    """One export started from the page, from submit to its run's end."""

    id: str
    request: RunRequest
    status: str = "queued"  # queued, waiting (behind another run), running, stopping, finished, failed
    holder: str = ""  # who held the lock while this one waited (for IT)
    done: int = 0
    total: int = 0
    ledger: str = ""
    run_id: int | None = None
    code: int | None = None
    message: str = ""  # the engine's last line, for IT
    started: float | None = None  # time.monotonic() when it began to run
    stopped_by: str = ""  # who pressed Stop
    version: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    api: ReportApi | None = field(default=None, repr=False)

    def update(self, **changes: object) -> None:
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1
            self.changed.notify_all()

    def wait(self, seen: int, seconds: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.version > seen, seconds)

    def view(self) -> dict[str, object]:
        remaining = None
        if self.started is not None and 0 < self.done < self.total:
            remaining = round((time.monotonic() - self.started) / self.done * (self.total - self.done))
        return {
            "version": self.version,
            "status": self.status,
            "statusText": status_text(self),
            "done": self.done,
            "total": self.total,
            "ledger": self.ledger,
            "remaining": remaining,
            "remainingText": str(gettext("about %(n)s s left", n=remaining)) if remaining is not None else "",
            "retries": self.api.retrier.retries if self.api else 0,
            "runId": self.run_id,
            "failure": language.failure(self.code) if self.status == "failed" else "",
            "details": self.message or self.holder,
            "runUrl": url_for("runs.run_page", run_id=self.run_id) if self.run_id else None,
        }


def status_text(job: Job) -> str:
    text = {
        "queued": gettext("Starting."),
        "waiting": gettext("Waiting for the nightly export to finish; this one starts right after."),
        "running": gettext("Exporting."),
        "stopping": gettext("Stopping after the date in progress."),
        "finished": gettext("Finished."),
        "failed": gettext("Failed."),
    }
    return str(text.get(job.status, job.status))


class Exports:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.jobs: dict[str, Job] = {}
        self.threads: list[threading.Thread] = []
        self.waiters = threading.BoundedSemaphore(WAITERS)

    def folder(self) -> tuple[str, Path]:
        """A new export's id and the folder of its own its files go to."""
        job_id = secrets.token_urlsafe(12)  # letters, digits, '-' and '_': a plain folder name
        return job_id, (self.web.settings.web.exports / job_id).absolute()

    def start(self, job_id: str, request: RunRequest) -> Job:
        web = self.web
        self.remove_expired()
        job = Job(job_id, request)

        def watch(done: int, total: int, ledger: str) -> None:
            job.update(done=done, total=total, ledger=ledger)

        def waiting(holder: str) -> None:
            job.update(status="waiting", holder=holder)

        def started(run_id: int) -> None:
            job.update(run_id=run_id, status="stopping" if job.stop.is_set() else "running", started=time.monotonic())
            with web.state() as state:
                state.runs.audit(request.user, "export", run_id, describe(request.record()))
                if job.stopped_by:  # Stop was pressed while it waited for its run to begin
                    state.runs.audit(job.stopped_by, "stop", run_id)

        def connected(api: ReportApi) -> None:
            job.api = api  # for its retry count

        # Its own Stop button, and the page's own state
        context = dataclasses.replace(
            web.context,
            stop=job.stop,
            today=web.day(),
            watch=watch,
            on_wait=waiting,
            on_start=started,
            on_connect=connected,
        )
        settings = dataclasses.replace(web.settings, state_path=web.state_path)

        def work() -> None:
            try:
                finished = runner.execute(request, settings, context)
                job.update(code=finished.code, message=finished.summary, status="finished")
            except ReportExportError as exc:
                job.update(code=exc.exit_code, message=str(exc), status="failed")
            except Exception as exc:  # a bug: the page says so; the log has the traceback
                log.exception("export %s failed", job.id)
                job.update(code=70, message=f"internal error: {type(exc).__name__}", status="failed")

        self.jobs[job.id] = job
        thread = threading.Thread(target=work, name=f"web-export-{job.id}", daemon=False)
        self.threads.append(thread)
        thread.start()
        return job

    def join(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Every export stops after its ledger date in progress (the server is stopping)."""
        for job in self.jobs.values():
            job.stop.set()
        self.join(timeout)

    def remove_expired(self) -> None:
        """The folders of page exports that ended more than [web] keep_days ago."""
        web = self.web
        with web.state(read_only=True) as state:
            runs = state.runs.recent(None, trigger="web")
        for run in runs:
            folder = own_folder(web, run)
            if folder is not None and expired(web, run) and folder.is_dir():
                shutil.rmtree(folder)
                log.info(
                    "web: removed %s, the files of run %d, kept %d days", folder, run.id, web.settings.web.keep_days
                )
