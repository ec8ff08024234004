"""kill -9 of a partition leader of a three-node cluster, five times, while events stream.

The module runs its own cluster (three KRaft nodes, each broker and controller) and
creates the topics with three replicas and ``min.insync.replicas=2``. Events go out
at a steady rate with our EventProducer (idempotent, ``acks=all``); one scoring
worker (the default kafka runner) scores them. Each round kills the node leading
partition 0 of ``user-events``, by the pid the test started, starts it again, and
waits until it is back in every in-sync replica set before the next kill.

Every acknowledged event must be in ``user-events``, and once, with one exception the
client documents: when the idempotent producer has to refuse an event outright (an
out-of-order sequence after a failover), it starts a new producer epoch and sends again
what was in flight beside it, and the broker cannot tell those from new events. The
processor then dead-letters each second copy as ``duplicate-event-id``: scored once.
Seen once, on a machine so loaded that a failover took 34 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from contracts.kafka_clients import make_admin
from contracts.settings import Secret, Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from scorer.bundle import ModelBundle
from streamml.broker.cluster import (
    ClusterState,
    node_dir,
    node_state,
    start_cluster,
    start_node,
    stop_cluster,
)
from streamml.broker.single_node import free_ports, is_running
from tests.broker_disk import logs_in_memory
from tests.faults.checker import Checker, event_id_of
from tests.faults.streams import SteadyStream
from tests.faults.workers import GroupOffsets, Worker, wait_until
from tests.integration.scoring_fixtures import SIGNING_KEY, publish_champion, signed

KILLS = 5
NODES = 3
# Events per second. On two cores the worker scores them with at most a fifth of a core,
# each node replicates them with a tenth; most of what the test process burns (60-90% of
# a core) is the idempotent producer's librdkafka threads spinning (seen from a retried
# producer id at the start and after failovers), which a lower rate would not stop, while
# it would leave fewer events in flight at a kill.
RATE = 200
MAX_BATCH = 2000  # stream_processors.kafka_scoring
# A node's ISR return needs its JVM started again on a machine shared with the tests.
REJOIN_WITHIN_S = 150


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            in_memory: Path | None) -> Iterator[tuple[Path, ClusterState]]:
    data_dir = tmp_path_factory.mktemp("cluster")
    for node_id in range(1, NODES + 1):
        logs_in_memory(node_dir(data_dir, node_id), in_memory)
    state = start_cluster(free_ports(NODES), data_dir)
    try:
        yield data_dir, state
    finally:
        stop_cluster(data_dir)


def settled(condition: Callable[[], bool]) -> Callable[[], bool]:
    """``condition``, false while the cluster answers with an error (stale leaders)."""
    def check() -> bool:
        try:
            return condition()
        except KafkaException:
            return False
    return check


def leader_of(admin: AdminClient, topic: str, partition: int) -> int:
    """The node leading ``partition`` (-1 while it has none)."""
    return admin.list_topics(topic, timeout=10).topics[topic].partitions[partition].leader


def in_sync_everywhere(admin: AdminClient, topics: list[str], node: int) -> bool:
    """True when ``node`` is in the ISR of every partition of ``topics``."""
    metadata = admin.list_topics(timeout=10).topics
    return all(node in partition.isrs
               for topic in topics for partition in metadata[topic].partitions.values())


@dataclass(frozen=True)
class Round:
    """One kill: the node, and seconds from the kill (restart and rejoin: from the restart)."""

    node: int
    failover_s: float
    restart_s: float
    rejoin_s: float
    progress_s: float

    def __str__(self) -> str:
        return (f"node {self.node}: new leader after {self.failover_s:.1f} s, restarted in "
                f"{self.restart_s:.1f} s, back in every ISR {self.rejoin_s:.1f} s later, "
                f"scoring on every partition {self.progress_s:.1f} s after the kill")


def kill_the_leader(data_dir: Path, admin: AdminClient, topic: str, watched: list[str],
                    offsets: GroupOffsets) -> Round:
    """kill -9 the leader of ``topic``'s partition 0, start it again, wait until all is well."""
    # The cluster can still be settling from the last round (a metadata request timed
    # out here once, with a CPU burner on one of the two cores): ask until it answers.
    leaders: list[int] = []

    def led() -> bool:
        leaders.append(leader_of(admin, topic, 0))
        return leaders[-1] > 0

    wait_until(settled(led), 120, f"a leader of {topic}[0] before the kill")
    victim = leaders[-1]
    node = node_state(data_dir, victim)
    at_kill = offsets.committed()
    killed_at = time.monotonic()
    os.kill(node.pid, signal.SIGKILL)

    def moved() -> bool:
        return leader_of(admin, topic, 0) not in (victim, -1)

    def rejoined() -> bool:
        return in_sync_everywhere(admin, watched, victim)

    def progressed() -> bool:
        now, ends = offsets.committed(), offsets.ends()
        return all(now[p] > at_kill[p] or now[p] >= ends[p] for p in at_kill)

    wait_until(lambda: not is_running(node), 10, "the node dies")
    # Returns once the leader moved (8-14 s on a quiet machine); the bound catches a
    # cluster that never elects. A controller slowed by other work on the cores took
    # over 60 s once ("Exceptionally slow controller event", load average 46).
    failover = wait_until(settled(moved), 180, f"a new leader after killing node {victim}")
    restarting_at = time.monotonic()
    start_node(data_dir, victim)
    restart = time.monotonic() - restarting_at
    rejoin = wait_until(settled(rejoined), REJOIN_WITHIN_S, f"node {victim} back in every ISR")
    wait_until(settled(progressed), 90, "scoring progress on every partition")
    return Round(victim, failover, restart, rejoin, time.monotonic() - killed_at)


def duplicates_bound(rate: int, rounds: list[Round]) -> int:
    """What the worker can score again per kill: what came in while its commits could not
    land (the group coordinator moving with the killed node), plus one batch."""
    return sum(int(rate * (r.failover_s + 1)) + MAX_BATCH for r in rounds)


def test_five_kill_9s_of_a_partition_leader_lose_no_acknowledged_event(
    cluster: tuple[Path, ClusterState], champion: ModelBundle, tmp_path: Path
) -> None:
    data_dir, state = cluster
    settings = Settings(bootstrap_servers=state.bootstrap, topic_prefix="ha.",
                        group_prefix="ha", partitions=3, replication_factor=NODES,
                        model_private_key=Secret(SIGNING_KEY))
    topics = Topics(settings.topic_prefix)
    admin = make_admin(settings)
    ensure_topics(admin, topics.specs(partitions=3, replication_factor=NODES))
    watched = [topics.user_events, topics.predictions, topics.dead_letters]
    publish_champion(settings, signed(champion))
    worker = Worker(settings, tmp_path, "scorer")
    offsets = GroupOffsets(settings, f"{settings.group_prefix}.scoring", topics.user_events)
    stream = SteadyStream(settings, RATE, prefix="f")
    checker = Checker(settings)
    rounds: list[Round] = []
    try:
        worker.start().wait_healthy()
        wait_until(lambda: len(worker.partitions()) == 3, 90, "the worker holds all partitions")
        stream.start()
        wait_until(lambda: sum(offsets.committed().values()) >= 5 * RATE, 90,
                   "scoring under way before the first kill")
        began = time.monotonic()
        for k in range(KILLS):
            killed_s = time.monotonic() - began
            rounds.append(kill_the_leader(data_dir, admin, topics.user_events, watched, offsets))
            print(f"kill {k + 1} ({killed_s:.0f} s in) of {rounds[-1]}")
        time.sleep(3)
        report = stream.stop()
        figures = checker.settle(sent=stream.sent, timeout=120)
        assert worker.alive(), worker.output()[-3000:]
        in_topic = Counter(event_id_of(r.value) for r in checker.input.records)
    finally:
        stream.close()
        checker.close()
        offsets.close()
        worker.stop()

    acknowledged = stream.acknowledged()
    missing = sorted(i for i in acknowledged if in_topic[i] == 0)
    copies = {i: n - 1 for i, n in in_topic.items() if n > 1}
    print(f"\n[leader kill -9 x{KILLS}, {NODES} nodes] " + figures.line(
        acknowledged=len(acknowledged), refused=len(stream.failures),
        refusals="/".join(sorted({f.code for f in stream.failures})) or "-",
        second_copies=sum(copies.values()),
        duplicate_predictions=figures.duplicate_predictions,
        bound=duplicates_bound(RATE, rounds),
        failover_s="/".join(f"{r.failover_s:.1f}" for r in rounds),
        restart_s="/".join(f"{r.restart_s:.1f}" for r in rounds),
        recovery_s="/".join(f"{r.progress_s:.1f}" for r in rounds)))
    assert report.pending == 0, report.summary()
    assert not missing, f"acknowledged events not in user-events: {missing[:10]}"
    assert not copies or stream.failures, f"written twice with nothing refused: {copies}"
    # What was in flight beside a refused event: a second of the stream at the most.
    assert sum(copies.values()) <= RATE * len(stream.failures), copies
    assert set(in_topic) <= set(stream.sent_ids), "user-events holds events nobody sent"
    assert figures.lost == 0, figures.lost_examples
    assert figures.predicted == len(in_topic), "every event in user-events scored once"
    assert figures.dead_lettered == sum(copies.values()), "each second copy dead-lettered"
    assert figures.unknown_predictions == 0
    assert figures.duplicates <= duplicates_bound(RATE, rounds)
