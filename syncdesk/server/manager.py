"""The dispatcher: one thread that hands queued jobs to idle workers and writes their outcomes.

It is the only code that moves a job to ``running`` and out of it (the routes only add jobs and
mark cancels), so a job is never handed out twice. The routes read the queue and, for a running
job, the live progress kept here in memory (progress is not written to the queue: a restarted
job starts again from 0).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from ..core.batch.executors import Fatal, Finished, Lost, Progress
from ..core.batch.processes import CANCELLED
from .config import ServerConfig
from .pool import worker_pool
from .store import CANCELLED_MESSAGE, DONE, ERROR, JobRow, ServerLock, ServerStore

log = logging.getLogger("syncdesk.server")
#: how long the dispatcher waits for a worker's message before looking at the queue again
TICK_S = 0.2
#: how often finished jobs older than ``keep_hours`` are removed
CLEAN_EVERY_S = 600.0


class JobManager:
    """The queue, the workers and the dispatcher thread of one server."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.lock = ServerLock(config.home)
        self.store: Optional[ServerStore] = None
        self.pool = worker_pool(config.options)
        self._live: dict[str, tuple[float, str]] = {}
        self._cancels: set[str] = set()
        self._cancels_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._next_clean = 0.0
        self.started = False
        self.started_at = time.time()

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Take the data folder's lock, recover what a killed server left, start dispatching."""
        self.lock.acquire()
        try:
            self.store = ServerStore(self.config.store)
            queued, failed = self.store.recover()
            if queued or failed:
                log.warning("%d job(s) interrupted by a stop of the server: %d queued again, %d failed",
                            queued + failed, queued, failed)
            self._clear_leftovers()
        except BaseException:
            self.lock.release()
            raise
        self._thread = threading.Thread(target=self._run, name="syncdesk-serve-dispatcher", daemon=True)
        self._thread.start()
        self.started = True

    def stop(self) -> None:
        """Cancel running jobs (they are queued again for the next start) and end the workers."""
        if not self.started:
            return
        self.started = False
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(60)
        if self.store is not None:
            self.store.close()
        self.lock.release()

    def _clear_leftovers(self) -> None:
        """Uploads a killed server was receiving, and folders of jobs that never made it to the queue."""
        shutil.rmtree(self.config.incoming_dir, ignore_errors=True)
        self.config.incoming_dir.mkdir(parents=True, exist_ok=True)
        self.config.jobs_dir.mkdir(parents=True, exist_ok=True)
        assert self.store is not None
        for folder in self.config.jobs_dir.iterdir():
            if folder.is_dir() and self.store.get(folder.name) is None:
                shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ what the routes ask

    def progress(self, job_id: str) -> tuple[float, Optional[str]]:
        fraction, stage = self._live.get(job_id, (0.0, None))
        return fraction, stage

    def cancel(self, job_ids: Sequence[str]) -> None:
        assert self.store is not None
        running = self.store.cancel(job_ids)
        with self._cancels_lock:
            self._cancels.update(running)

    def remove_files(self, jobs: Sequence[JobRow]) -> None:
        for job in jobs:
            shutil.rmtree(self.config.job_dir(job.id), ignore_errors=True)

    def health(self) -> dict[str, object]:
        ready = self.pool.ready
        status = "degraded" if self.pool.fatal else ("ok" if ready else "starting")
        return {"status": status, "workers": {"ready": ready, "total": self.config.workers},
                "running": len(self._live), "problem": self.pool.fatal}

    # ------------------------------------------------------------------ the dispatcher thread

    def _run(self) -> None:
        assert self.store is not None
        self.pool.launch(self.config.workers)
        try:
            while not self._stopping.is_set():
                self._send_cancels()
                self._dispatch()
                for event in self.pool.events(TICK_S):
                    self._handle(event)
                self._clean_old()
        except Exception:  # noqa: BLE001 - logged: the server then reports itself degraded
            log.exception("the dispatcher stopped")
            self.pool.fatal = "the server's dispatcher stopped: see its log"
        finally:
            running = self.pool.running()
            self.pool.close()
            for job_id in running:
                self.store.release(job_id)

    def _send_cancels(self) -> None:
        with self._cancels_lock:
            wanted, self._cancels = self._cancels, set()
        for job_id in wanted:
            self.pool.cancel(job_id)

    def _dispatch(self) -> None:
        assert self.store is not None
        while self.pool.fatal is not None or self.pool.free_slots() > 0:
            job = self.store.claim()
            if job is None:
                return
            if self.pool.fatal is not None:  # nothing can run: say why instead of waiting forever
                self.store.finish(job.id, ERROR, None, self.pool.fatal)
                continue
            self._live[job.id] = (0.0, "starting")
            if not self.pool.submit(job.id, (job.kind, job.request)):  # its worker died: it never ran
                self._live.pop(job.id, None)
                self.store.release(job.id)

    def _handle(self, event: object) -> None:
        assert self.store is not None
        if isinstance(event, Progress):
            if event.job_id in self._live:
                self._live[event.job_id] = (event.fraction, event.stage)
        elif isinstance(event, Finished):
            self._live.pop(event.job_id, None)
            if event.outcome == DONE:
                self.store.finish(event.job_id, DONE, event.result, None)
            elif event.outcome == CANCELLED:
                self.store.finish(event.job_id, ERROR, None, CANCELLED_MESSAGE)
            else:
                self.store.finish(event.job_id, ERROR, None, self._public(event.job_id, event.message or "failed"))
        elif isinstance(event, Lost):
            self._live.pop(event.job_id, None)
            self.store.finish(event.job_id, ERROR, None, event.message)
        elif isinstance(event, Fatal):
            log.error("the analysis workers cannot start: %s", event.message)

    def _public(self, job_id: str, message: str) -> str:
        """An error as the client may see it: the server's own folders replaced by the client's name."""
        job = self.store.get(job_id) if self.store is not None else None
        if job is None:
            return message
        name = job.request.get("name", "the file")
        source = job.request.get("source", "")
        private = [source, str(self.config.job_dir(job_id))]
        if job.request.get("uploaded"):  # its name on the server ("upload.mp4") means nothing to the client
            private.append(Path(source).name)
        for text in filter(None, private):
            message = message.replace(text, name)
        return message

    def _clean_old(self) -> None:
        """Remove finished jobs (and their files) older than ``keep_hours``, now and then."""
        now = time.monotonic()
        if self.config.keep_hours <= 0 or now < self._next_clean:
            return
        self._next_clean = now + CLEAN_EVERY_S
        assert self.store is not None
        old = self.store.finished_before(time.time() - self.config.keep_hours * 3600)
        for job in old:
            family = [job, *self.store.children(job.id)]
            self.store.delete([member.id for member in family])
            self.remove_files(family)
