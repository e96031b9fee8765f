"""The ``local`` executor: worker processes on this machine analysing files (:mod:`.worker`), run
by the pool the server's workers use too (:mod:`.processes`).

* CPU: ``workers`` processes, each with ``cores // workers`` torch threads and its own model.
* GPU (CUDA or MPS): one process owns the device and the model and is sent several files at once
  (``slots_for``): their decoders, face scans and crops run in parallel threads of that process
  while the one model serves them all. This path has not run on a GPU yet (our build machines have
  none); the tests run the same many-files-in-one-process path on CPU.

A worker process that dies takes its files with it (:class:`.Lost`); a fresh one takes its place
while files wait.
"""

from __future__ import annotations

from typing import Callable

from ..options import AnalysisOptions
from .processes import WorkerPool
from .worker import AnalyseFiles

#: the processes' name (``ps``, and the tests find them by it)
PROCESS_NAME = "syncdesk-batch-worker"


class LocalExecutor(WorkerPool):
    """Worker processes on this machine: an :class:`.Executor` (``submit(job_id, path)``: the path
    is the job's payload). ``slots_for(device_type)``: files one process analyses at once."""

    #: a crash on one machine is the file's doing (a decoder that crashes on it), not bad luck
    retries = 0

    def __init__(self, options: AnalysisOptions, workers: int, slots_for: Callable[[str], int]) -> None:
        super().__init__(AnalyseFiles(options), PROCESS_NAME, slots_for, one_per_device=True)
        self.options = options
        self.workers = workers

    def start(self, files: int) -> None:
        self.launch(max(1, min(self.workers, files)))
