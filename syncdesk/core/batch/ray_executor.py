"""The ``ray`` executor: a batch's analyses as actors on a Ray cluster (this is the driver's side;
the actors are :class:`.ray_actor.Analyser`).

* **Actors.** One per worker slot, each loading the model once and analysing many files (see
  :func:`plan`). On nodes with GPUs (and ``--device`` ``auto`` or ``cuda``) each asks for one GPU
  (``num_gpus=1``) and the CPUs that go with it, and analyses that many files at once (decoding and
  faces run in parallel threads while the one model serves them, as a local GPU process does);
  otherwise each asks for ``cpus_per_worker`` CPUs (torch threads) and analyses one file at a time.
  Actors are spread over the nodes. The driver resolves what could differ between nodes (the ``auto``
  detector, the ``auto`` arithmetic) and ships the weights, and each actor checks that it would
  analyse under the queue's settings key before it takes a file.
* **Files** are read by path (a file system every node sees, as render and data farms have), or,
  with ``ship_files``, read by the driver and sent through the object store
  (:data:`SHIP_LIMIT_BYTES` a file, :data:`SHIP_BUDGET_BYTES` in flight).
* **Back-pressure.** An actor is sent at most twice as many files as it analyses at once: the
  next file waits on it (already fetched, when shipped) while the last one runs, and the queue
  stays in the driver's store, never in Ray.
* **Faults.** Ray retries nothing by itself (no actor restarts, no task retries): a file whose
  actor dies (its process, or its node) comes back as :class:`.Lost`, the runner hands it out
  again up to :attr:`RayExecutor.retries` times, and a fresh actor replaces the dead one while
  files wait. Actors belong to the driver: when it dies, Ray ends them.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import ray
from ray.exceptions import RayError, RayTaskError

from ..cache import AnalysisCache
from ..errors import SyncdeskError
from ..faces.choose import resolve_name
from ..models.weights import locate
from ..options import AnalysisOptions
from . import worker
from .executors import Event, Fatal, Finished, Lost, Progress, interrupt_ignored
from .ray_actor import Analyser
from .session import Settings
from .store import ERROR

log = logging.getLogger(__name__)

#: the largest file ``--ship-files`` sends through the object store; larger ones are error rows
SHIP_LIMIT_BYTES = 1 << 30
#: shipped bytes in flight at once (the driver's object store holds them until they are analysed)
SHIP_BUDGET_BYTES = 4 << 30
#: times a file is handed out in all: the first try and two more on other actors
TRIES = 3
#: how long the batch waits for a first (or, after all were lost, a new) actor to be ready
START_TIMEOUT_S = 300.0
#: how long the driver waits for the cluster's address to answer before it gives up
CONNECT_TIMEOUT_S = 5.0
#: progress questions to the actors, at most: one actor is asked every 0.5 s, a thousand every 10 s
_PROGRESS_EVERY_S = 0.5
_PROGRESS_CALLS_PER_S = 100
_REPLACE_EVERY_S = 5.0


@dataclass(frozen=True)
class Plan:
    """What the actors ask Ray for and how many files each analyses at once."""

    actors: int
    cpus: int  # num_cpus of one actor (its torch threads on CPU)
    gpus: int  # num_gpus of one actor: 0 or 1
    slots: int

    def describe(self) -> str:
        return f"{self.cpus} CPU" + (f" and {self.gpus} GPU" if self.gpus else "")


def plan(nodes: Sequence[Mapping[str, float]], device: str, workers: Optional[int] = None,
         cpus_per_worker: Optional[int] = None) -> Plan:
    """Actors for a cluster of ``nodes`` (each node's resources). Where nodes have GPUs and ``device``
    may use them: one actor per GPU, with the CPUs that go with a GPU on those nodes (the files it
    analyses at once: decoding and faces are what a GPU waits for, bench/ray.md). Else one actor per
    ``cpus_per_worker`` CPUs (default 1) of each node. ``workers`` sets the count instead (actors
    that do not fit wait for room, as when an autoscaler adds nodes)."""
    gpu_nodes = [node for node in nodes if node.get("GPU", 0) >= 1] if device in ("auto", "cuda") else []
    if gpu_nodes:
        cpus = cpus_per_worker or max(1, min(int(node.get("CPU", 0) // node["GPU"]) for node in gpu_nodes))
        return Plan(workers or sum(int(node["GPU"]) for node in gpu_nodes), cpus, 1, cpus)
    cpus = cpus_per_worker or 1
    return Plan(workers or max(1, sum(int(node.get("CPU", 0)) // cpus for node in nodes)), cpus, 0, 1)


def settled(options: AnalysisOptions) -> AnalysisOptions:
    """``options`` with what each node could settle differently settled here: the ``auto``
    detector (S3FD where its weights are) and the ``auto`` arithmetic (the CPU decides)."""
    from ..models.device import precision_in_use  # torch: the driver has it loaded by now

    return replace(options, detector=resolve_name(options.detector, options.s3fd_weights),
                   precision=options.precision if options.exact else precision_in_use(options))


def bootstrap_address(address: str) -> tuple[str, int]:
    """The host and port that joining ``address`` connects to first (``auto`` and a local host
    resolved as Ray resolves them; ``ray://`` is Ray Client's)."""
    if address.startswith("ray://"):
        target: Optional[str] = address.removeprefix("ray://")
    else:
        try:
            from ray._private.services import canonicalize_bootstrap_address
        except ImportError:  # moved in another Ray: probe the address as given
            target = address
        else:
            target = canonicalize_bootstrap_address(address)
    if target is None:
        raise SyncdeskError(f"--ray-address {address}: no running Ray cluster found (RAY_ADDRESS is not set and "
                            "`ray start` did not run on this machine)")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SyncdeskError(f"--ray-address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def _probe(address: str) -> None:
    """Refuse an address nothing answers on, at once: Ray itself would retry for minutes."""
    host, port = bootstrap_address(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise SyncdeskError(f"cannot reach the Ray cluster at {address} ({host}:{port}: {reason}): check the "
                            "address and that `ray start --head` runs there") from None


def _cause(exc: BaseException) -> str:
    """Ray's account of a lost actor in a few words (its text runs over many lines): why it died,
    and the error it ends with where it ends with one (an actor that could not start)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = next((line.split(lead, 1)[1].split(". ")[0].rstrip(".") for line in lines
                for lead in ("The actor died because ", "The actor is dead because ") if lead in line),
               type(exc).__name__)
    last = lines[-1] if lines else ""
    return f"{why}: {last}" if "Error" in last.partition(":")[0] else why


@dataclass(eq=False)
class _Actor:
    handle: Any
    started: bool = False  # its ``ready`` call answered READY
    node: str = "?"
    jobs: set[Any] = field(default_factory=set)  # refs of the files sent and not answered
    polled: bool = False  # a ``progress`` call runs
    next_poll: float = 0.0
    gone: bool = False

    @property
    def ready(self) -> bool:
        return self.started and not self.gone


@dataclass(frozen=True)
class _Sent:
    actor: _Actor
    job_id: int
    path: Path
    size: int  # shipped bytes, 0 when read by path


class RayExecutor:
    """Actors on a Ray cluster: ``address`` ``auto`` or ``HOST:PORT`` (or ``ray://HOST:PORT``)
    joins a running one, ``None`` starts a local one for the batch. Use as a context manager
    (or call :meth:`connect` / :meth:`disconnect`): Ray stays joined over the runs in between,
    and a process that joined Ray before is left joined (and its address used)."""

    retries = TRIES - 1

    def __init__(self, options: AnalysisOptions, workers: Optional[int] = None, address: Optional[str] = None,
                 ship_files: bool = False, cpus_per_worker: Optional[int] = None,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.options = options
        self.workers = workers
        self.address = address
        self.ship_files = ship_files
        self.cpus_per_worker = cpus_per_worker
        self.start_timeout_s = start_timeout_s
        self.plan: Optional[Plan] = None
        self._joined = False  # this executor called ray.init, and so calls ray.shutdown
        self._remote: Any = None
        self._actor_args: tuple[Any, ...] = ()
        self._actors: list[_Actor] = []
        self._target = 0
        self._sent: dict[Any, _Sent] = {}  # by the ref of its ``analyse`` call
        self._starting: dict[Any, _Actor] = {}  # by the ref of its ``ready`` call
        self._polls: dict[Any, _Actor] = {}  # by the ref of its ``progress`` call
        self._backlog: list[Event] = []
        self._shipped = 0
        self._next_replace = 0.0
        self._no_actor_since: Optional[float] = None
        self._failed_starts = 0
        self._cache = AnalysisCache()

    # --------------------------------------------------------------------------- connection

    def __enter__(self) -> "RayExecutor":
        """Refuse an address nothing answers on at once, before a long scan; Ray is joined (or a
        local one started) only when there is something to analyse."""
        if self.address is not None and not ray.is_initialized():
            _probe(self.address)
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Join the cluster (or start a local Ray); a one-line ``SyncdeskError`` if it cannot."""
        if ray.is_initialized():
            return
        if self.address is not None:
            _probe(self.address)
        try:
            with interrupt_ignored():  # a local Ray's processes must outlive a first Ctrl-C
                # "local": a new Ray of this batch's own, never one `ray start` left running here
                ray.init(address=self.address or "local", include_dashboard=False if self.address is None else None,
                         log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, another Ray version...
            what = "start a local Ray" if self.address is None else f"join the Ray cluster at {self.address}"
            raise SyncdeskError(f"cannot {what}: {str(exc).splitlines()[0]}") from None
        self._joined = True

    def disconnect(self) -> None:
        if self._joined:
            ray.shutdown()
            self._joined = False

    # --------------------------------------------------------------------------- a run

    def start(self, files: int) -> None:
        self.connect()
        options = settled(self.options)
        settings = Settings.of(options).fields
        nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
        self.plan = plan(nodes, options.device, self.workers, self.cpus_per_worker)
        syncnet = ray.put(locate("syncnet", options.weights).read_bytes())
        s3fd = ray.put(locate("s3fd", options.s3fd_weights).read_bytes()) if options.detector == "s3fd" else None
        self._actor_args = (options, settings, self.plan.cpus, self.plan.slots, syncnet, s3fd)
        self._remote = ray.remote(Analyser).options(
            num_cpus=self.plan.cpus, num_gpus=self.plan.gpus, max_concurrency=2 * self.plan.slots + 2,
            max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD")
        self._target = max(1, min(self.plan.actors, math.ceil(files / self.plan.slots)))
        self._actors, self._sent, self._starting, self._polls, self._backlog = [], {}, {}, {}, []
        self._shipped = self._failed_starts = 0
        self._no_actor_since = time.monotonic()
        for _ in range(self._target):
            self._add_actor()

    def _add_actor(self) -> None:
        actor = _Actor(self._remote.remote(*self._actor_args))
        self._actors.append(actor)
        self._starting[actor.handle.ready.remote()] = actor

    def free_slots(self) -> int:
        self._actors = alive = [actor for actor in self._actors if not actor.gone]
        now = time.monotonic()
        if len(alive) < self._target and now >= self._next_replace:
            self._next_replace = now + _REPLACE_EVERY_S
            for _ in range(self._target - len(alive)):
                self._add_actor()
        if self.ship_files and self._shipped >= SHIP_BUDGET_BYTES:
            return 0
        assert self.plan is not None
        return sum(max(0, 2 * self.plan.slots - len(actor.jobs)) for actor in alive if actor.ready)

    def submit(self, job_id: int, path: Path) -> bool:
        assert self.plan is not None
        actor = min((actor for actor in self._actors if actor.ready and len(actor.jobs) < 2 * self.plan.slots),
                    key=lambda actor: len(actor.jobs))
        shipped, size = None, 0
        if self.ship_files:
            try:
                shipped, size = self._ship(path)
            except SyncdeskError as exc:
                self._backlog.append(Finished(job_id, ERROR, None, str(exc)))
                return True
        ref = actor.handle.analyse.remote(job_id, str(path), shipped)
        actor.jobs.add(ref)
        self._sent[ref] = _Sent(actor, job_id, path, size)
        self._shipped += size
        return True

    def _ship(self, path: Path) -> tuple[Any, int]:
        """The file's bytes in the object store (read through a memory map: no copy on the heap)."""
        try:
            size = path.stat().st_size
            if size > SHIP_LIMIT_BYTES:
                raise SyncdeskError(f"{path.name} is {size / (1 << 30):.3g} GiB: --ship-files sends files of up to "
                                    f"{SHIP_LIMIT_BYTES / (1 << 30):.3g} GiB; put the folder on a file system every "
                                    "node sees")
            return ray.put(np.asarray(np.memmap(path, mode="r")) if size else b""), size
        except OSError as exc:
            raise SyncdeskError(f"cannot read {path.name}: {exc.strerror or exc}") from None

    def busy(self) -> bool:
        """Files out, actors starting, or actors to replace (:meth:`free_slots` will)."""
        alive = sum(1 for actor in self._actors if not actor.gone)
        return bool(self._backlog or self._sent or self._starting) or alive < self._target

    def events(self, timeout: float) -> list[Event]:
        self._poll_progress()
        refs = [*self._starting, *self._sent, *self._polls]
        if refs:
            done, _ = ray.wait(refs, num_returns=1, timeout=0 if self._backlog else timeout)
            if done:
                done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in done:
                self._collect(ref)
        elif not self._backlog:
            time.sleep(timeout)  # nothing out: the next actor is started after a pause
        self._check_start()
        events, self._backlog = self._backlog, []
        return events

    def _poll_progress(self) -> None:
        now = time.monotonic()
        every = max(_PROGRESS_EVERY_S, len(self._actors) / _PROGRESS_CALLS_PER_S)
        for actor in self._actors:
            if actor.ready and actor.jobs and not actor.polled and now >= actor.next_poll:
                self._polls[actor.handle.progress.remote()] = actor
                actor.polled, actor.next_poll = True, now + every

    def _collect(self, ref: Any) -> None:
        if ref in self._sent:
            self._answered(ref, self._sent.pop(ref))
        elif ref in self._starting:
            self._started(ref, self._starting.pop(ref))
        elif ref in self._polls:
            actor = self._polls.pop(ref)
            actor.polled = False
            self._progress(actor, ref)

    def _started(self, ref: Any, actor: _Actor) -> None:
        try:
            reply = ray.get(ref)
        except RayError as exc:
            self._gone(actor)
            self._failed_starts += 1
            if self._failed_starts >= self._target + 2 and not any(other.ready for other in self._actors):
                self._backlog.append(Fatal(f"no Ray worker could start ({_cause(exc)})"))
            return
        if reply[0] == worker.FATAL:
            self._gone(actor)
            self._backlog.append(Fatal(reply[1]))
            return
        actor.started, actor.node = True, reply[2]
        self._failed_starts = 0
        self._no_actor_since = None

    def _progress(self, actor: _Actor, ref: Any) -> None:
        try:
            fractions = ray.get(ref)
        except RayError:  # its actor is gone: its files say so
            return
        running = {self._sent[job].job_id for job in actor.jobs if job in self._sent}
        self._backlog += [Progress(job_id, fraction) for job_id, fraction in fractions.items() if job_id in running]

    def _answered(self, ref: Any, sent: _Sent) -> None:
        sent.actor.jobs.discard(ref)
        self._shipped -= sent.size
        try:
            outcome, result, message, document = ray.get(ref)
        except RayTaskError as exc:  # raised past the worker's own handling: a bug, not the file
            self._backlog.append(Finished(sent.job_id, ERROR, None, f"{sent.path.name}: unexpected error on the "
                                          f"Ray worker: {str(exc).splitlines()[0]}"))
            return
        except RayError as exc:  # its process or its node died, or the result was lost with the node
            self._gone(sent.actor)
            self._backlog.append(Lost(sent.job_id, f"its Ray worker on {sent.actor.node} was lost ({_cause(exc)})"))
            return
        if document is not None:
            try:  # the app and --report read documents from the driver's cache
                self._cache.put(sent.path, self.options, document)
            except SyncdeskError as exc:
                log.warning("%s", exc)
        self._backlog.append(Finished(sent.job_id, outcome, result, message))

    def _gone(self, actor: _Actor) -> None:
        if not actor.gone:
            actor.gone = True
            ray.kill(actor.handle)  # a half-dead actor must not take more files
        if self._no_actor_since is None and not any(other.ready for other in self._actors):
            self._no_actor_since = time.monotonic()

    def _check_start(self) -> None:
        """No actor ready for too long: the cluster has no room for one (or it lost every node)."""
        since = self._no_actor_since
        if since is not None and time.monotonic() - since > self.start_timeout_s:
            assert self.plan is not None
            self._no_actor_since = None
            self._backlog.append(Fatal(f"no Ray worker was ready within {self.start_timeout_s:.0f} s: the cluster "
                                       f"has no room for an actor of {self.plan.describe()} (`ray status` shows "
                                       "what it has; --workers and --cpus-per-worker ask for less)"))

    def cancel(self) -> None:
        for actor in self._actors:
            if actor.ready:
                actor.handle.cancel.remote()

    def close(self) -> None:
        for actor in self._actors:
            if not actor.gone:
                ray.kill(actor.handle)
        self._actors, self._sent, self._starting, self._polls, self._backlog = [], {}, {}, {}, []
        self._shipped = self._target = 0
