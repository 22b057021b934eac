"""The generation queue: one worker thread owns the backend; requests wait in a bounded queue.

Backends are not thread-safe (a transformers model, a llama.cpp context), so exactly one thread,
the queue's worker, ever calls `backend.generate`. Requests arrive on the event loop, are admitted
while fewer than `max_pending` are admitted and unfinished (else `QueueFull`, which the app turns
into 503 with `Retry-After`), and wait for their texts without blocking the loop. The worker takes
the oldest waiting request and every other one waiting behind it, up to `max_batch` requests, and
generates all their prompts in one backend call (the backends batch and pad internally).

Time limit: each request has a deadline counted from admission. A request still waiting when its
deadline passes is never started. A request whose generation is still running at its deadline
gets `GenerationTimeout` (504) at once and gives its slot back, so a slow generation cannot hold
the queue's capacity. The worker itself is freed only if the backend can stop: a backend whose
`generate` accepts a `should_stop` callable gets one that turns true once every request of the
batch has given up, and should return early (any texts); with the plain interface the worker
finishes the batch and drops the late result (`max_new_tokens` bounds its length).

Overload: work for requests that cannot be answered in time is not done. The queue keeps a
running estimate of a batch's generation time (batches whose requests were answered only). A
request that would have to wait for more batches than its time limit allows is refused at once
(`Overloaded`, 503 with `Retry-After`) instead of timing out later, unless the worker is idle;
and a waiting request whose remaining time is clearly shorter than a batch (under 80% of the
estimate) is not started (504 at once), so the worker goes on to requests that can still make it.
Without this, a machine that generates slower than the time limit times out every request: each
abandoned batch delays the next.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

log = logging.getLogger("mathdistill.serve")


class QueueFull(Exception):
    """No room for another request; `retry_after` is a guess in whole seconds."""

    def __init__(self, pending: int, retry_after: int):
        super().__init__(f"the server is busy: {pending} requests are queued or running; retry in {retry_after} s")
        self.retry_after = retry_after


class Overloaded(QueueFull):
    """Room in the queue, but not in time: the queued work ahead outlasts the time limit."""

    def __init__(self, wait: float, timeout: float, retry_after: int):
        Exception.__init__(self, f"the server is busy: about {wait:.0f} s of generation is ahead of this request, "
                                 f"more than its {timeout:g} s limit; retry in {retry_after} s")
        self.retry_after = retry_after


class GenerationTimeout(Exception):
    pass


SKIP_BELOW = 0.8  # a waiting request with less than this share of a batch's time left is not started


class GenerationFailed(Exception):
    pass


@dataclass
class _Job:
    prompts: list[str]
    deadline: float  # time.monotonic()
    admitted: float
    future: Future = field(default_factory=Future)
    started: float | None = None
    finished: float | None = None
    released: bool = False
    batch: int = 1  # requests generated together with this one


@dataclass(frozen=True)
class Generated:
    texts: list[str]
    queued_s: float  # admission -> start of the batch
    generate_s: float  # the batch's generation time (shared with the batch's other requests)
    batch_size: int  # requests in that batch


class GenerationQueue:
    def __init__(self, backend, max_new_tokens: int = 160, max_pending: int = 16, max_batch: int = 4):
        if max_pending < 1 or max_batch < 1:
            raise ValueError("max_pending and max_batch must be >= 1")
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.max_pending = max_pending
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._waiting: deque[_Job] = deque()
        self._pending = 0  # admitted and neither answered nor given up
        self._stopped = False
        self._busy_since: float | None = None  # when the running generation started
        self._seconds_per_batch: float | None = None  # running estimate (answered batches only)
        self.shed = 0  # requests refused (Overloaded) or not started because they could not finish in time
        self.batches = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="mathdistill-serve-generate", daemon=True)
        try:
            self._can_stop = "should_stop" in inspect.signature(backend.generate).parameters
        except (TypeError, ValueError):
            self._can_stop = False
        self.abandoned = 0  # batches stopped early because every request had given up

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopped = True
            while self._waiting:
                job = self._waiting.popleft()
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(GenerationFailed("the server is shutting down"))
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def stats(self) -> dict:
        with self._cond:
            busy = time.monotonic() - self._busy_since if self._busy_since is not None else 0.0
            return {"pending": self._pending, "waiting": len(self._waiting), "max_pending": self.max_pending,
                    "max_batch": self.max_batch, "batches": self.batches, "failures": self.failures,
                    "abandoned": self.abandoned, "backend_can_stop": self._can_stop,
                    "shed": self.shed, "busy_s": round(busy, 3),
                    "seconds_per_batch": round(self._seconds_per_batch, 3) if self._seconds_per_batch else None}

    # -- the request side (event loop) ----------------------------------------------------
    def submit(self, prompts: Sequence[str], timeout: float) -> _Job:
        """Admit a request or raise `QueueFull`. The caller must `release` the job when done."""
        now = time.monotonic()
        with self._cond:
            if self._stopped:
                raise GenerationFailed("the server is shutting down")
            if self._pending >= self.max_pending:
                raise QueueFull(self._pending, self._retry_after())
            wait = self._expected_wait(now)
            if wait is not None and wait > timeout:
                self.shed += 1
                raise Overloaded(wait, timeout, self._retry_after())
            job = _Job(list(prompts), now + timeout, now)
            self._pending += 1
            self._waiting.append(job)
            self._cond.notify()
            return job

    def release(self, job: _Job) -> None:
        with self._cond:
            if not job.released:
                job.released = True
                self._pending -= 1
                try:
                    self._waiting.remove(job)
                except ValueError:
                    pass

    async def generate(self, prompts: Sequence[str], timeout: float) -> Generated:
        """Texts for `prompts`, generated on the worker thread; `GenerationTimeout` past `timeout` s."""
        job = self.submit(prompts, timeout)
        try:
            remaining = job.deadline - time.monotonic()
            try:
                texts = await asyncio.wait_for(asyncio.wrap_future(job.future), max(remaining, 0.001))
            except (asyncio.TimeoutError, TimeoutError):
                raise GenerationTimeout(f"generation did not finish within {timeout:g} s") from None
            assert job.started is not None and job.finished is not None
            return Generated(texts, job.started - job.admitted, job.finished - job.started, job.batch)
        finally:
            self.release(job)

    def _expected_wait(self, now: float) -> float | None:
        """Seconds until a request admitted now would have its texts; None: no estimate, or an idle worker."""
        est = self._seconds_per_batch
        if est is None or (self._busy_since is None and not self._waiting):
            return None
        running = max(0.0, est - (now - self._busy_since)) if self._busy_since is not None else 0.0
        return running + math.ceil((len(self._waiting) + 1) / self.max_batch) * est

    def _retry_after(self) -> int:
        """When a request has a fair chance: after the work now running or queued (a guess)."""
        est = self._seconds_per_batch or 5.0
        now = time.monotonic()
        running = max(0.0, est - (now - self._busy_since)) if self._busy_since is not None else 0.0
        rounds = math.ceil(len(self._waiting) / self.max_batch)
        return int(min(300, max(1, math.ceil(running + rounds * est))))

    # -- the worker -----------------------------------------------------------------------
    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._waiting and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            batch: list[_Job] = []
            now = time.monotonic()
            while self._waiting and len(batch) < self.max_batch:
                job = self._waiting.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue  # the request gave up (its wait was cancelled)
                if now >= job.deadline:
                    job.future.set_exception(GenerationTimeout("deadline passed while waiting"))
                    continue
                est = self._seconds_per_batch
                if est is not None and job.deadline - now < SKIP_BELOW * est:
                    self.shed += 1
                    job.future.set_exception(GenerationTimeout(
                        f"not started: {job.deadline - now:.0f} s were left and a batch takes about {est:.0f} s"))
                    continue
                job.started = now
                batch.append(job)
            if batch:
                self._busy_since = now
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch:
                continue
            prompts = [p for job in batch for p in job.prompts]
            t0 = time.monotonic()
            try:
                if self._can_stop:
                    texts = self.backend.generate(prompts, self.max_new_tokens,
                                                  should_stop=lambda batch=batch: all(j.released for j in batch))
                else:
                    texts = self.backend.generate(prompts, self.max_new_tokens)
                if all(j.released for j in batch):
                    with self._cond:
                        self.abandoned += 1
                        self._busy_since = None
                    for job in batch:
                        job.finished = time.monotonic()
                        job.future.set_exception(GenerationTimeout("every request of the batch gave up"))
                    continue
                if len(texts) != len(prompts):
                    raise GenerationFailed(f"the backend returned {len(texts)} texts for {len(prompts)} prompts")
            except BaseException as e:
                log.exception("generation failed")
                with self._cond:
                    self.failures += 1
                    self._busy_since = None
                err = e if isinstance(e, GenerationFailed) else GenerationFailed(f"generation failed: {type(e).__name__}: {e}")
                for job in batch:
                    job.finished = time.monotonic()
                    job.future.set_exception(err)
                if not isinstance(e, Exception):  # KeyboardInterrupt / SystemExit: stop the worker
                    return
                continue
            now = time.monotonic()
            with self._cond:
                self.batches += 1
                self._busy_since = None
                took = now - t0
                prev = self._seconds_per_batch
                self._seconds_per_batch = took if prev is None else 0.7 * prev + 0.3 * took
            i = 0
            for job in batch:
                job.finished = now
                job.batch = len(batch)
                job.future.set_result(texts[i: i + len(job.prompts)])
                i += len(job.prompts)
