"""Where a sweep's runs execute: in this process, in local worker processes, or on Dask.

Every executor has one method that matters, ``map_unordered(fn, tasks)``: call ``fn`` on each
task somewhere and yield ``(task, result)`` pairs as they finish, in any order. The sweep
driver does not know which executor it has; results do not depend on it (a run is a pure
function of its scenario and seed).

* :class:`InProcessExecutor` (``--workers 1``): one run after another in this process.
* :class:`ProcessExecutor` (``--workers N``, default ``os.cpu_count()``): a
  ``concurrent.futures.ProcessPoolExecutor``, its workers started when it is made. On Linux,
  in a process with no other thread, they are forked: they start at once, with fleetsim
  already imported. Otherwise (threads running — a Dask client, a notebook kernel — or macOS
  and Windows) they start from a fork server that imports fleetsim once (spawn where there is
  none), since forking a process with threads can deadlock the child; a *script* that sweeps
  with several workers then needs the usual ``if __name__ == "__main__":`` guard. Workers
  ignore Ctrl-C (the sweep process stops them) and exit by themselves within a second if the
  sweep process is killed.
* :class:`DaskExecutor` (``--scheduler tcp://host:8786``): a ``distributed.Client`` on a running
  Dask scheduler; workers need fleetsim installed. Dask is imported only here, and a missing
  install is one line: ``pip install -e '.[dask]'`` in fleetsim's checkout.

Leaving ``map_unordered`` early (an error, Ctrl-C) cancels the runs not yet started.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, TypeVar

from fleetsim.errors import FleetsimError

Task = TypeVar("Task")

#: How long to wait for a Dask scheduler before giving up with a one-line error (the sweep
#: connects before it writes anything).
DASK_CONNECT_TIMEOUT_S = 5


class Executor(ABC):
    """Runs ``fn(task)`` for many small tasks; a context manager that releases its workers."""

    #: what the progress line and the summary say about where runs execute
    description: str = ""

    @abstractmethod
    def map_unordered(self, fn: Callable[[Task], Any],
                      tasks: Iterable[Task]) -> Iterator[tuple[Task, Any]]:
        """Yield ``(task, fn(task))`` for every task, as each finishes (any order).

        An exception raised by ``fn`` is raised here, for the first failing task found.
        """

    def close(self, abort: bool = False) -> None:
        """Release workers and connections (idempotent); ``abort``: do not wait for runs in
        flight (an error or Ctrl-C is on its way out)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.close(abort=exc_type is not None)


class InProcessExecutor(Executor):
    """One task after another, in this process (``--workers 1``; easiest to debug)."""

    description = "in this process"

    def map_unordered(self, fn, tasks):
        for task in tasks:
            try:
                result = fn(task)
            except Exception as error:
                _name_task(error, task)
                raise
            yield task, result


def _ready() -> bool:
    return True


def start_method() -> str:
    """``fork`` on Linux when this process runs no other thread, else ``forkserver``/``spawn``
    (see the module docstring)."""
    methods = multiprocessing.get_all_start_methods()
    if ("fork" in methods and sys.platform.startswith("linux")
            and threading.active_count() == 1):
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _process_context(method: str) -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # children fork from a server that has imported fleetsim once (ignored if it runs)
        context.set_forkserver_preload(["fleetsim", "fleetsim.sweep.worker"])
    return context


#: How often a worker process checks that the sweep that started it is still alive.
WATCHDOG_INTERVAL_S = 1.0


def _init_worker(parent_pid: int) -> None:
    """Worker initializer: leave Ctrl-C to the sweep process (it stops the workers), and exit
    when the sweep process is gone (killed with SIGKILL, say).

    A ``ProcessPoolExecutor`` worker otherwise waits forever on its task queue once its parent
    dies (it holds both ends of the queue's pipe, so it never sees end-of-file).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name != "posix":
        return

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid now belongs to another user's process
                os._exit(1)

    threading.Thread(target=watch, name="fleetsim-sweep-watchdog", daemon=True).start()


_DIED = ("a sweep worker process died (killed, out of memory, or started by a script that "
         "calls fleetsim.sweep without an `if __name__ == \"__main__\":` guard)")


class ProcessExecutor(Executor):
    """A pool of ``workers`` local processes (``concurrent.futures.ProcessPoolExecutor``)."""

    def __init__(self, workers: int, method: str | None = None) -> None:
        if workers < 1:
            raise FleetsimError(f"--workers: must be >= 1, got {workers}")
        self.workers = workers
        self.method = method or start_method()
        self.description = f"{workers} local processes"
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=_process_context(self.method),
            initializer=_init_worker, initargs=(os.getpid(),))
        # start the workers now, before the caller starts threads (a progress bar): a forking
        # pool starts all of them on its first task
        try:
            self._pool.submit(_ready).result()
        except BrokenProcessPool:
            self.close(abort=True)
            raise FleetsimError(_DIED) from None

    def map_unordered(self, fn, tasks):
        futures = {self._pool.submit(fn, task): task for task in tasks}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise FleetsimError(_DIED) from None
                except Exception as error:
                    _name_task(error, futures[future])
                    raise
                yield futures[future], result
        finally:
            for future in futures:
                future.cancel()

    def close(self, abort: bool = False) -> None:
        if abort:  # stop the runs in flight too, rather than wait for them
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=not abort, cancel_futures=True)


class DaskExecutor(Executor):
    """Tasks on a Dask cluster through ``distributed.Client`` (address or an existing client)."""

    def __init__(self, scheduler: Any) -> None:
        try:
            import distributed
        except ImportError:
            raise FleetsimError("--scheduler needs Dask's distributed scheduler, which is not "
                                "installed: pip install -e '.[dask]' in fleetsim's "
                                "checkout") from None
        self._distributed = distributed
        if isinstance(scheduler, distributed.Client):
            self.client, self._owned = scheduler, False
        else:
            try:
                self.client = distributed.Client(str(scheduler),
                                                 timeout=DASK_CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise FleetsimError(f"--scheduler: cannot reach the Dask scheduler at "
                                    f"{scheduler!s} ({reason})") from None
            self._owned = True
        self.description = f"Dask at {self.client.scheduler.address}"

    def map_unordered(self, fn, tasks):
        tasks = list(tasks)
        if not tasks:
            return
        futures = self.client.map(fn, tasks, pure=False)
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        try:
            for future in self._distributed.as_completed(futures):
                try:
                    result = future.result()
                except Exception as error:
                    _name_task(error, by_key[future.key])
                    raise
                yield by_key[future.key], result
        finally:
            self.client.cancel([future for future in futures if not future.done()])

    def close(self, abort: bool = False) -> None:
        if self._owned:
            self.client.close()
            self._owned = False


def _name_task(error: BaseException, task: object) -> None:
    """Add to a failed task's exception which task it was (Python 3.11+ notes)."""
    if hasattr(error, "add_note"):
        error.add_note(f"while running {task!r}")


def make_executor(workers: int | None = None, scheduler: Any = None,
                  tasks: int | None = None) -> Executor:
    """The executor for ``--workers``/``--scheduler``: Dask if a scheduler is given, else
    ``workers`` local processes (default ``os.cpu_count()``, never more than ``tasks``), and
    this process for one worker."""
    if scheduler is not None:
        if workers is not None:
            raise FleetsimError("--workers is for local processes; with --scheduler the Dask "
                                "cluster's workers run the sweep (give one or the other)")
        return DaskExecutor(scheduler)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise FleetsimError(f"--workers: must be >= 1, got {workers}")
    if tasks is not None:
        workers = max(1, min(workers, tasks))
    if workers == 1:
        return InProcessExecutor()
    return ProcessExecutor(workers)
