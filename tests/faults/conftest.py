"""Fixtures of the fault suite: a real broker (tests/conftest.py), a signed champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.settings import Secret, Settings
from scorer.bundle import ModelBundle
from tests.integration.scoring_fixtures import SIGNING_KEY, trained_bundle

FAULTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def champion() -> ModelBundle:
    """Version 1, trained once for the whole suite."""
    return trained_bundle(1, seed=1)


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    """Fresh topics and groups, and the key artifacts are signed with."""
    return kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))
