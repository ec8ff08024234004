"""Two ``streamml join`` workers share the partitions; joining and leaving loses nothing.

A worker that joins takes partitions whose events the other one read and committed;
a worker that leaves mid-stream hands its partitions, events still waiting for their
labels and labels still waiting for their events, to the one that stays. Run twice:
with the usual commits, and with none while the workers run (so every rebalance
meets partitions the group committed only when they were handed over, or never).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.settings import Settings
from streamml.broker.single_node import free_port
from tests.integration.processes import Child, settings_env, streamml_child
from tests.integration.test_joiner import Sender
from tests.integration.test_joiner_restart import (
    FAST_GROUP,
    NO_COMMITS,
    health_of,
    ids,
    join_args,
    joined_ids,
    send_labels,
    send_scored,
    wait_joined,
    wait_ready,
)
from tests.integration.topic_reader import read_topic


def wait_shared(workers: list[tuple[Child, int]], timeout: float = 30.0) -> list[list[int]]:
    """Each worker's partitions, once every worker owns some and together they own all.

    ``timeout`` counts from when every worker is ready: a worker's start is waited for
    by :func:`wait_ready`, and on a loaded machine it can take most of a minute.
    """
    for child, port in workers:
        wait_ready(child, port)
    deadline = time.monotonic() + timeout
    while True:
        healths = [wait_ready(child, port) for child, port in workers]
        owned = [sorted(h["partitions"]) for h in healths]
        if all(owned) and sorted(p for o in owned for p in o) == [0, 1, 2]:
            return owned
        if time.monotonic() > deadline:
            raise AssertionError(f"partitions never shared out: {owned}")
        time.sleep(0.3)


def wait_pending(ports: list[int], expected: int, idle: float = 30.0) -> int:
    """Events pending across the workers, once they reach ``expected`` or stop changing.

    Ready means a moved partition's state is restored from its tails up to the group's
    commit; what lies after the commit (the whole partition, if the group never
    committed) is read again after that, so the count climbs for a while. It is waited
    for while it still changes, giving up ``idle`` seconds after the last change.
    """
    last, changed = -1, time.monotonic()
    while True:
        pending = sum(int(health_of(p)["pending_events"]) for p in ports)
        if pending == expected:
            return pending
        if pending != last:
            last, changed = pending, time.monotonic()
        elif time.monotonic() - changed > idle:
            return pending
        time.sleep(0.3)


@pytest.mark.parametrize("commits", [(), NO_COMMITS], ids=["commits", "no-commits"])
def test_a_worker_joining_and_one_leaving_mid_stream_lose_and_repeat_nothing(
    kafka_settings: Settings, tmp_path: Path, commits: tuple[str, ...]
) -> None:
    settings = kafka_settings
    sender = Sender(settings)
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    env = settings_env(settings, **FAST_GROUP)
    ports = [free_port(), free_port()]
    a_args, b_args = (join_args(p, *commits) for p in ports)

    with streamml_child(a_args, env, tmp_path / "a.log") as a:
        wait_ready(a, ports[0])
        send_scored(sender, range(200), ts)
        send_labels(sender, range(50), ts)
        wait_joined(settings, ids(range(50)))

        with streamml_child(b_args, env, tmp_path / "b.log") as b:
            owned = wait_shared([(a, ports[0]), (b, ports[1])])
            pending = wait_pending(ports, 150)
            assert pending == 150, (owned, pending)  # nothing forgotten as partitions moved

            send_labels(sender, [*range(50, 120), *range(20), *range(200, 220)], ts)
            wait_joined(settings, ids(range(120)))

            # a leaves while labels stream in; labels of 200..219 are still waiting.
            def stream_labels() -> None:
                for start in range(120, 200, 10):
                    send_labels(sender, range(start, start + 10), ts)
                    time.sleep(0.3)

            streaming = threading.Thread(target=stream_labels)
            streaming.start()
            time.sleep(0.5)
            assert a.stop() == 0, a.output()[-3000:]
            streaming.join()
            send_scored(sender, range(200, 220), ts)
            send_labels(sender, range(50, 80), ts)  # repeats, now all on b

            every = ids(range(220))
            wait_joined(settings, every)
            time.sleep(2.0)  # let any second join of a repeat show up
            counts = joined_ids(read_topic(settings, sender.topics.labeled_events, idle=1.0))
            dead = read_topic(settings, sender.topics.dead_letters, idle=1.0)
            assert sorted(health_of(ports[1])["partitions"]) == [0, 1, 2]

    assert set(counts) == every
    assert [i for i, n in counts.items() if n > 1] == [], counts
    assert dead == [], [r.value for r in dead]
