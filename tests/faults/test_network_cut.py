"""A 60-second network cut between the scoring processor and the broker.

The test's broker has a second listener that advertises the port of a
:class:`~tests.faults.tcp_proxy.TcpProxy`. The processor (the default kafka runner)
bootstraps from the proxy, so all its connections, consumer, producer and model
watcher, pass through it; the test's producer and checker use the direct listener
and carry on through the cut. Events stream at a steady rate before, during and
after the cut.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.kafka_clients import make_admin
from contracts.settings import Secret, Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from scorer.bundle import ModelBundle
from streamml.broker import single_node
from streamml.broker.single_node import ProxiedListener, free_ports
from tests.broker_disk import logs_in_memory
from tests.faults.checker import Checker, event_id_of
from tests.faults.streams import SteadyStream
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.workers import GroupOffsets, Worker, wait_until
from tests.integration.scoring_fixtures import SIGNING_KEY, publish_champion, signed

CUT_SECONDS = 60
RESUME_WITHIN_S = 30
RATE = 200  # events per second
WARM_UP_S = 10
AFTER_RECOVERY_S = 10
# The cut outlasts the group session (45 s), so the group drops the worker and it reads
# again from its last commit: what it consumed since then, one batch of at most 2,000
# (stream_processors.kafka_scoring.MAX_BATCH) or a commit interval of events, is scored twice.
DUPLICATES_BOUND = 2000 + RATE


@pytest.fixture(scope="module")
def proxied_broker(tmp_path_factory: pytest.TempPathFactory,
                   in_memory: Path | None) -> Iterator[tuple[str, TcpProxy]]:
    """A one-node broker whose second listener is reached through a proxy."""
    data_dir = logs_in_memory(tmp_path_factory.mktemp("cut-broker"), in_memory)
    port, proxied_port = free_ports(2)
    with TcpProxy(target_port=proxied_port) as proxy:
        state = single_node.start(port, data_dir, footprint=single_node.SMALL,
                                  proxied=ProxiedListener(proxied_port, proxy.port))
        try:
            yield state.bootstrap, proxy
        finally:
            single_node.stop(data_dir)


def test_a_60_s_network_cut_loses_nothing_and_scoring_resumes_within_30_s(
    proxied_broker: tuple[str, TcpProxy], champion: ModelBundle, tmp_path: Path
) -> None:
    bootstrap, proxy = proxied_broker
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix="cut.", group_prefix="cut",
                        partitions=3, model_private_key=Secret(SIGNING_KEY))
    topics = Topics(settings.topic_prefix)
    ensure_topics(make_admin(settings), topics.specs(partitions=3, replication_factor=1))
    publish_champion(settings, signed(champion))
    worker = Worker(settings.with_overrides(bootstrap_servers=f"127.0.0.1:{proxy.port}"),
                    tmp_path, "scorer")
    offsets = GroupOffsets(settings, f"{settings.group_prefix}.scoring", topics.user_events)
    stream = SteadyStream(settings, RATE, prefix="n")
    checker = Checker(settings)
    try:
        worker.start().wait_healthy()
        wait_until(lambda: len(worker.partitions()) == 3, 90, "the worker holds all partitions")
        stream.start()
        wait_until(lambda: sum(offsets.committed().values()) >= WARM_UP_S * RATE // 2, 90,
                   "scoring under way before the cut")
        time.sleep(WARM_UP_S / 2)

        proxy.cut()
        cut_at = time.monotonic()
        time.sleep(2)  # outputs already on the wire at the cut may still land
        predicted_at_cut = len(_drained(checker).predictions.records)
        while time.monotonic() - cut_at < CUT_SECONDS:
            assert worker.alive(), f"the processor died in the cut:\n{worker.output()[-3000:]}"
            time.sleep(1)
        predicted_in_cut = len(_drained(checker).predictions.records) - predicted_at_cut
        committed_at_heal = offsets.committed()
        first_after_heal = stream.sent
        proxy.heal()
        healed_at = time.monotonic()

        seen = [predicted_at_cut + predicted_in_cut]

        def output_after_heal() -> bool:
            return len(_drained(checker).predictions.records) > seen[0]

        def scored_after_heal() -> bool:
            records = _drained(checker).predictions.records
            new, seen[0] = records[seen[0]:], len(records)
            return any(_index(r.value) >= first_after_heal for r in new)

        def committed_moved() -> bool:
            now = offsets.committed()
            return all(now[p] > committed_at_heal[p] for p in now)

        wait_until(output_after_heal, RESUME_WITHIN_S, "a prediction")
        first_output_s = time.monotonic() - healed_at
        wait_until(scored_after_heal, RESUME_WITHIN_S - first_output_s,
                   "a prediction of an event sent after the heal")
        resumed_s = time.monotonic() - healed_at
        wait_until(committed_moved, RESUME_WITHIN_S - resumed_s,
                   "committed offsets moving on every partition")
        committed_s = time.monotonic() - healed_at
        time.sleep(AFTER_RECOVERY_S)
        report = stream.stop()
        figures = checker.settle(sent=stream.sent, timeout=120)
        assert worker.alive(), worker.output()[-3000:]
        log = worker.output()
    finally:
        stream.close()
        checker.close()
        offsets.close()
        worker.stop()

    print(f"\n[network cut {CUT_SECONDS} s] " + figures.line(
        acknowledged=report.delivered, rate=RATE, predicted_in_cut=predicted_in_cut,
        first_output_s=f"{first_output_s:.1f}", resumed_s=f"{resumed_s:.1f}",
        committed_s=f"{committed_s:.1f}",
        heal_to_end_s=f"{time.monotonic() - healed_at:.0f}",
        bound=DUPLICATES_BOUND, proxy_connections=proxy.connections,
        worker_starts=worker.starts))
    assert predicted_in_cut == 0, "the cut did not cut the processor off"
    assert report.pending == 0 and report.failed == 0, report.summary()
    assert figures.sent == stream.sent
    assert figures.lost == 0, figures.lost_examples
    assert figures.predicted == stream.sent and figures.dead_lettered == 0
    assert figures.unknown_predictions == 0
    assert figures.duplicates <= DUPLICATES_BOUND
    assert "Traceback" not in log, log[-3000:]


def _drained(checker: Checker) -> Checker:
    checker.predictions.drain(quiet=0.1, at_most=1.0)
    return checker


def _index(value: bytes | None) -> int:
    """The position of an event in the stream, from its id ``n-000000123``."""
    event_id = event_id_of(value)
    return int(event_id.rsplit("-", 1)[1]) if event_id else -1
