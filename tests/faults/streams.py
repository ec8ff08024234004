"""A steady stream of simulated events that runs until the test stops it."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from contracts.settings import Settings
from producers.delivery import DeliveryFailure, DeliveryReport
from producers.sdk import EventProducer
from producers.simulator import Simulator

# Far more than any test sends; the simulator draws them lazily.
ENDLESS = 10**8
# Below the brokers and workers under test, which keep normal priority.
LOAD_NICENESS = 10


class SteadyStream:
    """Sends events at ``rate`` per second with our EventProducer (idempotent, acks=all).

    The producer reports each refused event to ``on_error``; once :meth:`stop` has
    flushed with nothing pending, every other event sent was acknowledged.
    """

    def __init__(self, settings: Settings, rate: int, *, prefix: str) -> None:
        self.rate = rate
        self.sent_ids: list[str] = []
        self.failures: list[DeliveryFailure] = []
        self.report: DeliveryReport | None = None
        self._settings = settings
        self._prefix = prefix
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="steady-stream", daemon=True)

    @property
    def sent(self) -> int:
        return len(self.sent_ids)

    def start(self) -> SteadyStream:
        self._thread.start()
        return self

    def stop(self, timeout: float = 120.0) -> DeliveryReport:
        """Stop sending, wait for every answer; the producer's final report."""
        self._stop.set()
        self._thread.join(timeout)
        if self._error is not None:
            raise AssertionError(f"the stream failed: {self._error!r}") from self._error
        assert self.report is not None, "the stream did not finish in time"
        return self.report

    def close(self) -> None:
        """Stop sending, without checking how it went (for clean-up)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(120)

    def acknowledged(self) -> set[str]:
        failed = {f.event_id for f in self.failures}
        return {event_id for event_id in self.sent_ids if event_id not in failed}

    def _run(self) -> None:
        items = Simulator(seed=23, start=datetime.now(UTC), id_prefix=self._prefix,
                          n_users=5000, events_per_second=self.rate).events(ENDLESS)
        try:
            # The producer's librdkafka threads inherit this thread's priority. After a
            # producer id changes (a failover) one of them can spin on a core for
            # minutes (librdkafka issue 2565); at normal priority that starved the
            # brokers under test on two cores (a restarted node took 132 s to answer).
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOAD_NICENESS)
            producer = EventProducer(self._settings, on_error=self.failures.append)
            began = time.monotonic()
            for item in items:
                if self._stop.is_set():
                    break
                producer.send_record(item.event)
                self.sent_ids.append(item.event.event_id)
                ahead = self.sent / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            self.report = producer.flush(timeout=90, raise_on_error=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
