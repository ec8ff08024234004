"""A steady stream of simulated events that runs until the test stops it.

The stream runs in a process of its own at low priority. After a producer id changes
(a failover) one of its librdkafka threads can spin on a core for minutes (librdkafka
issue 2565): measured under a CPU burner, 95% of a core while a killed node was
starting again. A thread's niceness does not hold it back where Linux groups CPU time
by session (autogroup, the default on desktops and many servers): the spinner then
shares its session's part with the test alone, and each broker has a part of its own.
In a session of its own, with that session's group niced too, it gets what the
brokers and workers under test leave.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

from contracts.settings import Settings
from producers.delivery import DeliveryFailure, DeliveryReport
from producers.sdk import EventProducer
from producers.simulator import Simulator

# Far more than any test sends; the simulator draws them lazily.
ENDLESS = 10**8
# Below the brokers and workers under test, which keep normal priority.
LOAD_NICENESS = 10
# Spawned, not forked: the test process already runs librdkafka threads.
_CONTEXT = multiprocessing.get_context("spawn")


class SteadyStream:
    """Sends events at ``rate`` per second with our EventProducer (idempotent, acks=all).

    The producer reports each refused event; once :meth:`stop` has flushed with
    nothing pending, every other event sent was acknowledged.
    """

    def __init__(self, settings: Settings, rate: int, *, prefix: str) -> None:
        self.rate = rate
        self.sent_ids: list[str] = []
        self.failures: list[DeliveryFailure] = []
        self.report: DeliveryReport | None = None
        self._stop = _CONTEXT.Event()
        self._count: Synchronized[int] = _CONTEXT.Value("q", 0)
        self._results, results = _CONTEXT.Pipe(duplex=False)
        self._process = _CONTEXT.Process(
            target=_send, args=(settings, rate, prefix, self._stop, self._count, results),
            name="steady-stream", daemon=True)

    @property
    def sent(self) -> int:
        """Events sent so far (all of them once stopped)."""
        return len(self.sent_ids) if self.report is not None else self._count.value

    def start(self) -> SteadyStream:
        self._process.start()
        return self

    def stop(self, timeout: float = 120.0) -> DeliveryReport:
        """Stop sending, wait for every answer; the producer's final report."""
        self._stop.set()
        if not self._results.poll(timeout):
            raise AssertionError(f"the stream did not finish within {timeout:.0f} s")
        outcome = self._results.recv()
        self._process.join(30)
        if isinstance(outcome, str):
            raise AssertionError(f"the stream failed: {outcome}")
        self.sent_ids, self.failures, self.report = outcome
        return self.report

    def close(self) -> None:
        """Stop sending, without checking how it went (for clean-up)."""
        self._stop.set()
        self._process.join(120)
        if self._process.is_alive():
            self._process.kill()

    def acknowledged(self) -> set[str]:
        failed = {f.event_id for f in self.failures}
        return {event_id for event_id in self.sent_ids if event_id not in failed}


def _background() -> None:
    """Run below the processes under test, whether Linux groups CPU time by session or not."""
    os.setsid()
    os.nice(LOAD_NICENESS)
    try:
        Path("/proc/self/autogroup").write_text(str(LOAD_NICENESS))
    except OSError:  # no autogroup (then the process's niceness is enough), or not allowed
        pass


def _send(settings: Settings, rate: int, prefix: str, stop: Event, count: Synchronized[int],
          results: Connection) -> None:
    _background()
    sent_ids: list[str] = []
    failures: list[DeliveryFailure] = []
    items = Simulator(seed=23, start=datetime.now(UTC), id_prefix=prefix,
                      n_users=5000, events_per_second=rate).events(ENDLESS)
    try:
        producer = EventProducer(settings, on_error=failures.append)
        began = time.monotonic()
        for item in items:
            if stop.is_set():
                break
            producer.send_record(item.event)
            sent_ids.append(item.event.event_id)
            count.value = len(sent_ids)
            ahead = len(sent_ids) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
        report = producer.flush(timeout=90, raise_on_error=False)
    except BaseException as exc:  # noqa: BLE001 - handed to the test process
        results.send(repr(exc))
        return
    results.send((sent_ids, failures, report))
