"""The session's Kafka broker, and fresh topics and groups for every test that asks.

The broker is, in order: ``KAFKA_BOOTSTRAP_SERVERS`` when set; a testcontainers Kafka
when a Docker engine answers; else the project's local broker started from the
official jars. Integration tests never skip: without a broker they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.kafka_clients import make_admin
from contracts.settings import Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from tests.broker_disk import logs_in_memory, ram_disk_folder

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - any failure means "no engine to use"
        return False
    return True


@pytest.fixture(scope="session")
def in_memory() -> Iterator[Path | None]:
    """Where the tests' brokers keep their logs: a RAM disk folder for the session, when
    the machine has one (tests.broker_disk says why)."""
    root = ram_disk_folder()
    try:
        yield root
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory,
                    in_memory: Path | None) -> Iterator[str]:
    """Bootstrap address of a real broker for the whole session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from streamml.broker import single_node

    data_dir = logs_in_memory(tmp_path_factory.mktemp("kafka"), in_memory)
    state = single_node.start(single_node.free_port(), data_dir, footprint=single_node.SMALL)
    try:
        yield state.bootstrap
    finally:
        single_node.stop(data_dir)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Settings:
    """Settings for one test: its own topics (every one, created) and consumer groups."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{tag}.",
        group_prefix=f"g{tag}",
        partitions=3,
    )
    specs = Topics(settings.topic_prefix).specs(partitions=3, replication_factor=1)
    ensure_topics(make_admin(settings), specs)
    return settings
