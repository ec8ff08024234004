"""Topic layouts: eleven topics, a compacted registry, joinable events and labels."""

from __future__ import annotations

from contracts.topics import ALL_TOPICS, MODEL_ARTIFACT_MAX_BYTES, Topics


def test_specs_lay_out_the_eleven_topics_in_order() -> None:
    specs = Topics(prefix="t1.").specs(partitions=6, replication_factor=3)

    assert [s.name for s in specs] == [f"t1.{name}" for name in ALL_TOPICS]
    assert len(specs) == 11


def test_topics_written_to_their_inputs_partition_name_their_source() -> None:
    specs = {s.name: s for s in Topics(prefix="t1.").specs(partitions=6, replication_factor=1)}

    assert {name: s.same_partitions_as for name, s in specs.items() if s.same_partitions_as} == {
        "t1.labels": "t1.user-events",
        "t1.predictions": "t1.user-events",
        "t1.dead-letters": "t1.user-events",
        "t1.labeled-events": "t1.labels",
        "t1.labeled-outcomes": "t1.labels",
        "t1.join-repartition": "t1.labels",
        "t1.feature-summaries": "t1.user-events",
        "t1.prediction-summaries": "t1.user-events",
    }


def test_model_versions_is_one_compacted_partition_for_large_artifacts() -> None:
    specs = {s.name: s for s in Topics().specs(partitions=6, replication_factor=3)}

    registry = specs["model-versions"]

    assert registry.partitions == 1
    assert registry.replication_factor == 3
    config = dict(registry.config)
    assert config["cleanup.policy"] == "compact"
    assert config["max.message.bytes"] == str(16 * 1024 * 1024) == str(MODEL_ARTIFACT_MAX_BYTES)


def test_user_events_and_labels_share_their_partition_count() -> None:
    specs = {s.name: s for s in Topics().specs(partitions=6, replication_factor=1)}

    assert specs["user-events"].partitions == specs["labels"].partitions == 6


def test_every_other_topic_uses_the_configured_layout() -> None:
    specs = Topics().specs(partitions=4, replication_factor=2)

    others = [s for s in specs if s.name != "model-versions"]

    assert len(others) == 10
    assert all((s.partitions, s.replication_factor, s.config) == (4, 2, ()) for s in others)


def test_topic_names_carry_the_prefix() -> None:
    topics = Topics(prefix="demo.")

    assert [
        topics.user_events,
        topics.labels,
        topics.predictions,
        topics.labeled_events,
        topics.model_versions,
        topics.alerts,
        topics.dead_letters,
        topics.join_repartition,
        topics.feature_summaries,
        topics.prediction_summaries,
        topics.labeled_outcomes,
    ] == [f"demo.{name}" for name in ALL_TOPICS]


def test_three_replicas_or_more_need_two_in_sync_on_every_topic() -> None:
    specs = Topics().specs(partitions=3, replication_factor=3)

    assert all(dict(s.config)["min.insync.replicas"] == "2" for s in specs)
    assert dict(specs[ALL_TOPICS.index("model-versions")].config)["cleanup.policy"] == "compact"


def test_fewer_replicas_leave_min_insync_replicas_to_the_cluster() -> None:
    specs = Topics().specs(partitions=3, replication_factor=2)

    assert not any("min.insync.replicas" in dict(s.config) for s in specs)
