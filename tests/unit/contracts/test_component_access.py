"""Each component's ACLs: what it needs, and only the retrainer writes model versions."""

from __future__ import annotations

import pytest

from contracts.component_access import (
    COMPONENT_ACCESS,
    Grant,
    acl_bindings,
    component_grants,
)
from contracts.topics import Topics

USERS = {component: f"user-{component}" for component in COMPONENT_ACCESS}


def _grants() -> list[Grant]:
    return component_grants(USERS, Topics("p."), "grp")


def test_only_the_monitor_and_the_retrainer_may_write_alerts() -> None:
    writers = {g.principal for g in _grants() if g.name == "p.alerts" and g.operation == "write"}
    assert writers == {"User:user-monitor", "User:user-retrainer"}


def test_only_the_retrainer_may_write_model_versions() -> None:
    writers = {g.principal for g in _grants()
               if g.name == "p.model-versions" and g.operation == "write"}
    assert writers == {"User:user-retrainer"}


@pytest.mark.parametrize("topic", ["p.feature-summaries", "p.prediction-summaries"])
def test_only_the_processor_may_write_summaries(topic: str) -> None:
    # The monitor judges drift and figures on them: whoever writes them could hide one.
    writers = {g.principal for g in _grants() if g.name == topic and g.operation == "write"}
    assert writers == {"User:user-processor"}


def test_each_component_gets_its_topics_by_exact_name() -> None:
    processor = {(g.name, g.operation) for g in _grants()
                 if g.principal == "User:user-processor" and g.resource == "topic"}
    assert processor == {("p.user-events", "read"), ("p.model-versions", "read"),
                         ("p.predictions", "write"), ("p.dead-letters", "write"),
                         ("p.feature-summaries", "write"), ("p.prediction-summaries", "write")}
    assert all(not g.prefixed for g in _grants() if g.resource == "topic")


def test_only_the_joiner_may_write_labeled_outcomes() -> None:
    # The monitor judges performance and concept drift on them.
    writers = {g.principal for g in _grants()
               if g.name == "p.labeled-outcomes" and g.operation == "write"}
    assert writers == {"User:user-joiner"}


def test_groups_and_transactional_ids_match_under_the_group_prefix() -> None:
    monitor_groups = [g for g in _grants()
                      if g.principal == "User:user-monitor" and g.resource == "group"]
    assert monitor_groups == [Grant("User:user-monitor", "group", "grp.monitor", True, "read")]
    retrainer_tids = {(g.name, g.operation) for g in _grants()
                      if g.resource == "transactional_id"}
    assert retrainer_tids == {("grp.retrainer", "write"), ("grp.retrainer", "describe"),
                              ("grp.cli.", "write"), ("grp.cli.", "describe")}
    assert {g.principal for g in _grants() if g.resource == "transactional_id"} == {
        "User:user-retrainer"}


def test_application_producers_only_write_events_and_labels() -> None:
    producer = {(g.resource, g.name, g.operation) for g in _grants()
                if g.principal == "User:user-producer"}
    assert producer == {("topic", "p.user-events", "write"), ("topic", "p.labels", "write")}


def test_an_unknown_component_is_named() -> None:
    with pytest.raises(ValueError, match="unknown component.*scorer"):
        component_grants({"scorer": "x"}, Topics(""), "g")


def test_bindings_mirror_the_grants() -> None:
    from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

    [binding] = acl_bindings([Grant("User:u", "group", "grp.joiner", True, "read")])
    assert (binding.restype, binding.name, binding.resource_pattern_type, binding.principal,
            binding.host, binding.operation) == (
        ResourceType.GROUP, "grp.joiner", ResourcePatternType.PREFIXED, "User:u", "*",
        AclOperation.READ)
