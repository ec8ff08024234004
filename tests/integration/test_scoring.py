"""The scoring processor on a real broker: every event answered once, hot swaps, refusals."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import pytest

from contracts.records import DeadLetter, Prediction
from contracts.reference_stats import Reference
from contracts.settings import Secret, Settings
from contracts.topics import Topics
from producers.sdk import EventProducer
from scorer.publishing import model_version_record
from streamml.broker.single_node import free_port
from tests.integration.processes import (
    http_get,
    http_post,
    settings_env,
    streamml_child,
    wait_for_health,
)
from tests.integration.scoring_fixtures import (
    SIGNING_KEY,
    publish_champion,
    publish_record,
    send_events,
    signed,
    tampered,
    trained_bundle,
)
from tests.integration.topic_reader import read_topic
from tests.signing_keys import OTHER_SIGNER, SIGNER

PREDICTION = msgspec.json.Decoder(Prediction)
DEAD_LETTER = msgspec.json.Decoder(DeadLetter)


@pytest.fixture(scope="module")
def bundles():
    return {1: trained_bundle(1, seed=1), 2: trained_bundle(2, seed=2)}


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))


@pytest.fixture(params=["faust", "kafka"])
def processor(request, settings: Settings, tmp_path: Path):
    """A scoring worker on each runner: every test holds for both."""
    port = free_port()
    env = settings_env(settings, STREAMML_SCORING_PORT=str(port),
                       STREAMML_SCORING_RUNNER=request.param)
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as child:
        wait_for_health(child, port)
        child.port = port  # type: ignore[attr-defined]
        yield child


def predictions_of(settings: Settings, expected: int, timeout: float = 120.0) -> list[Prediction]:
    records = read_topic(settings, Topics(settings.topic_prefix).predictions,
                         until=lambda r: len(r) >= expected, timeout=timeout)
    return [PREDICTION.decode(r.value) for r in records]


def metric(port: int, name: str) -> float:
    _, body = http_get(f"http://127.0.0.1:{port}/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_nothing_is_consumed_before_a_model_then_every_event_is_scored(
    settings, processor, bundles
):
    health = json.loads(http_get(f"http://127.0.0.1:{processor.port}/health")[1])
    assert health["model_ready"] is False
    assert metric(processor.port, "streamml_model_ready") == 0
    sent = send_events(settings, 300)
    time.sleep(3)
    assert metric(processor.port, "streamml_events_in_total") == 0

    publish_champion(settings, signed(bundles[1]))
    predictions = predictions_of(settings, len(sent))
    assert sorted(p.event_id for p in predictions) == sorted(i.event.event_id for i in sent)
    assert {p.version for p in predictions} == {1}
    assert "not consuming user-events until one is published" in processor.output()


def test_50000_events_one_prediction_each_in_order_with_a_hot_swap(
    settings, processor, bundles
):
    publish_champion(settings, signed(bundles[1]))
    sent = send_events(settings, 25_000, prefix="a")
    first = predictions_of(settings, 25_000)
    swapped_at = time.time()
    publish_champion(settings, signed(bundles[2]))
    sent += send_events(settings, 12_500, seed=8, prefix="b")
    # A fast worker scores the first half within the 2 s a swap may take: the second
    # half comes after them, so some events are surely scored once it must be done.
    time.sleep(max(0.0, swapped_at + 2.5 - time.time()))
    sent += send_events(settings, 12_500, seed=9, prefix="c")
    predictions = predictions_of(settings, 50_000, timeout=180)

    counts = Counter(p.event_id for p in predictions)
    duplicates = sum(c - 1 for c in counts.values())
    print(f"sent={len(sent)} predicted={len(counts)} duplicates={duplicates}")
    assert set(counts) == {i.event.event_id for i in sent}
    assert duplicates == 0
    assert all(p.model == "conversion" and p.version in (1, 2) for p in predictions)
    assert len(first) == 25_000

    by_user: dict[str, list[str]] = defaultdict(list)
    for p in predictions:
        by_user[p.user_id].append(p.event_id)
    sent_order = {i.event.event_id: n for n, i in enumerate(sent)}
    for user, ids in by_user.items():
        positions = [sent_order[e] for e in ids]
        assert positions == sorted(positions), f"order of {user} not kept"

    late = [p for p in predictions if p.scored_at.timestamp() > swapped_at + 2.0]
    assert late, "events scored after the swap"
    assert {p.version for p in late} == {2}, "the new version serves within 2 s"


def test_refused_artifacts_are_counted_and_the_champion_keeps_serving(
    settings, processor, bundles
):
    publish_champion(settings, signed(bundles[1]))
    good_v2 = model_version_record(signed(bundles[2]))
    unfed = trained_bundle(3, seed=3, extra_feature="loyalty_points")
    cases = {
        "tampered": (tampered(good_v2), SIGNER),
        "unknown-key": (good_v2, OTHER_SIGNER),
        "replayed-version": (model_version_record(signed(bundles[1])), SIGNER),
        "schema-mismatch": (model_version_record(signed(unfed)), SIGNER),
    }
    for record, signer in cases.values():
        publish_record(settings, record, None, signer)

    # Counted on /metrics and logged: processors do not write alerts.
    deadline = time.monotonic() + 60
    while (metric(processor.port, "streamml_model_refusals_total") < len(cases)
           and time.monotonic() < deadline):
        time.sleep(0.2)
    for reason in cases:
        assert metric(processor.port, f'streamml_model_refusals_total{{reason="{reason}"}}') == 1
    # A worker serves once it has read the registry to its end, which comes a moment
    # after the last record is applied (and counted).
    while metric(processor.port, "streamml_model_ready") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    status, body = http_post(f"http://127.0.0.1:{processor.port}/predict",
                             b'{"features": {"cart_value": 10}}')
    assert status == 200 and json.loads(body)["version"] == 1
    assert "refused reason=tampered" in processor.output()


def _event(event_id: str, user_id: str, ts: str, **features: object) -> bytes:
    return json.dumps({"schema_version": 1, "event_id": event_id, "user_id": user_id,
                       "ts": ts, "features": features or {"cart_value": 12.5}}).encode()


def kcat_catalogue(now: str) -> list[tuple[str, bytes, bytes]]:
    """(expected reason, key, value) of malformed messages a non-Python client can send."""
    def bad(n: int, **fields: object) -> bytes:
        body = {"schema_version": 1, "event_id": f"bad-{n}", "user_id": f"k{n}", "ts": now,
                "features": {"cart_value": 1.0}}
        body.update(fields)
        return json.dumps(body).encode()

    return [
        ("not-utf8", b"k1", b"\xff\xfe\x00garbage"),
        ("not-json", b"k2", b"{this is not json"),
        ("not-an-object", b"k3", b"[1, 2, 3]"),
        ("not-an-object", b"k4", b'"just a string"'),
        ("missing-field", b"k5", b'{"schema_version":1,"user_id":"k5","ts":"%s","features":{}}'
         % now.encode()),
        ("unknown-field", b"k6", bad(6, extra=1)),
        ("wrong-type", b"k7", bad(7, features={"cart_value": [1]})),
        ("non-finite-number", b"k8", bad(8).replace(b"1.0", b"NaN")),
        ("non-finite-number", b"k9", bad(9).replace(b"1.0", b"-Infinity")),
        ("bad-schema-version", b"k10", bad(10, schema_version=9)),
        ("empty-value", b"k11", bad(11, event_id="")),
        ("oversize-value", b"k12", bad(12, features={"device": "m" * 5000})),
        ("bad-timestamp", b"k13", bad(13, ts="2999-01-01T00:00:00Z")),
        ("bad-timestamp", b"k14", bad(14, ts="1970-01-01T00:00:00Z")),
        ("bad-timestamp", b"k15", bad(15, ts="2026-01-01T00:00:00")),
        ("oversize-message", b"k16", bad(16, features={f"f{i}": "x" * 250 for i in range(255)})),
        ("key-not-user-id", b"", bad(17)),
    ]


def test_malformed_input_from_kcat_and_the_sdk_is_dead_lettered_and_valid_events_scored(
    settings, processor, bundles
):
    publish_champion(settings, signed(bundles[1]))
    topics = Topics(settings.topic_prefix)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    catalogue = kcat_catalogue(now)
    # Each bad message is followed by a valid event of the same key, so a bad record
    # must not hold back a good one behind it in its partition.
    lines = []
    for n, (_, key, value) in enumerate(catalogue):
        user = key.decode() or "k0"
        lines += [key + b"\x1f" + value,
                  user.encode() + b"\x1f" + _event(f"ok-{n}", user, now)]
    subprocess.run(["kcat", "-b", settings.bootstrap_servers, "-P", "-t", topics.user_events,
                    "-D", "\x1e", "-K", "\x1f"], input=b"\x1e".join(lines), check=True,
                   timeout=30)
    # What the contract allows but the model refuses, sent through our own SDK.
    with EventProducer(settings) as sdk:
        sdk.send(event_id="sdk-text", user_id="s1", features={"cart_value": "lots"})
        sdk.send(event_id="sdk-negative", user_id="s2", features={"pages_viewed": -3.0})
        sdk.send(event_id="ok-0", user_id="k0", features={"cart_value": 3.0})
        sdk.send(event_id="sdk-new-category", user_id="s3", features={"device": "smart-tv"})
    expected = [(reason, value) for reason, _, value in catalogue]
    expected_sdk = {"sdk-text": "bad-feature-value", "sdk-negative": "bad-feature-value",
                    "ok-0": "duplicate-event-id"}

    letters = [DEAD_LETTER.decode(r.value) for r in read_topic(
        settings, topics.dead_letters, until=lambda r: len(r) >= len(catalogue) + 3, timeout=60)]
    kcat_originals = {value for _, value in expected}
    from_kcat = [(d.reason, d.original) for d in letters if d.original in kcat_originals]
    assert sorted(from_kcat) == sorted(expected)
    sdk_letters = {json.loads(d.original)["event_id"]: d.reason for d in letters
                   if d.original not in kcat_originals}
    assert sdk_letters == expected_sdk
    assert all(d.error and d.source_topic == topics.user_events for d in letters)
    print(f"dead-lettered={len(letters)} kinds={len({d.reason for d in letters})}")

    predictions = predictions_of(settings, len(catalogue) + 1)
    assert sorted(p.event_id for p in predictions) == sorted(
        [f"ok-{n}" for n in range(len(catalogue))] + ["sdk-new-category"])
    assert processor.process.poll() is None


def test_predict_matches_the_stream_and_metrics_pass_promtool(settings, processor, bundles):
    publish_champion(settings, signed(bundles[1]))
    sent = send_events(settings, 50)
    predictions = {p.event_id: p for p in predictions_of(settings, 50)}
    for item in sent[:10]:
        body = msgspec.json.encode({"features": item.event.features})
        status, answer = http_post(f"http://127.0.0.1:{processor.port}/predict", body)
        assert status == 200
        assert abs(json.loads(answer)["score"] - predictions[item.event.event_id].score) < 1e-9
    status, answer = http_post(f"http://127.0.0.1:{processor.port}/predict", b'{"feat": 1}')
    assert status == 400 and b"features" in answer

    _, exposition = http_get(f"http://127.0.0.1:{processor.port}/metrics")
    check = subprocess.run(["promtool", "check", "metrics"], input=exposition,
                           capture_output=True, timeout=30, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_canary_at_20_percent_takes_a_sticky_fifth_of_users(settings, processor, bundles):
    publish_champion(settings, signed(bundles[1]))
    publish_champion(settings, signed(bundles[2]), champion=1, canary=2, canary_fraction=0.2)
    time.sleep(1)
    sent = send_events(settings, 30_000, n_users=10_000)
    predictions = predictions_of(settings, len(sent), timeout=180)
    routes: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for p in predictions:
        routes[p.user_id].add((p.route, p.version))
    assert all(len(r) == 1 for r in routes.values()), "a user sticks to one version"
    canary_users = sum(1 for r in routes.values() if r == {("canary", 2)})
    share = canary_users / len(routes)
    print(f"users={len(routes)} canary share={share:.3f}")
    assert 0.18 <= share <= 0.22


def summaries_by_kcat(settings, topic: str, events: int) -> list[tuple[int, bytes, dict]]:
    """``topic``'s records as kcat reads them (partition, key, JSON value), once they
    summarise ``events`` events (or after a minute)."""
    def read() -> list[tuple[int, bytes, dict]]:
        out = subprocess.run(["kcat", "-b", settings.bootstrap_servers, "-C", "-t", topic,
                              "-e", "-q", "-f", "%p\t%k\t%s\n"], capture_output=True,
                             check=True, timeout=60).stdout
        return [(int(p), k, json.loads(v)) for p, k, v in
                (line.split(b"\t", 2) for line in out.splitlines())]

    deadline = time.monotonic() + 60
    summaries = read()
    while sum(s["events"] for _, _, s in summaries) < events and time.monotonic() < deadline:
        time.sleep(0.5)
        summaries = read()
    return summaries


def test_what_was_predicted_is_summarised_on_prediction_summaries_in_plain_json(
        settings, processor, bundles):
    """kcat reads the prediction summaries: on their events' partitions, keyed by model,
    adding up to the predictions made, decision by decision and score by score."""
    publish_champion(settings, signed(bundles[1]))
    send_events(settings, 600)
    predictions = predictions_of(settings, 600)
    topic = Topics(settings.topic_prefix).prediction_summaries
    summaries = summaries_by_kcat(settings, topic, 600)
    assert sum(s["events"] for _, _, s in summaries) == 600
    assert {(k, s["model"], s["version"], s["route"]) for _, k, s in summaries} == {
        (b"conversion", "conversion", 1, "champion")}
    assert all(p == s["partition"] and s["events"] <= 100 for p, _, s in summaries)
    # The estimate's table: [cells (decision x 100 + score bin), counts, score sums].
    positives = sum(n for _, _, s in summaries
                    for cell, n in zip(s["table"][0], s["table"][1], strict=True) if cell >= 100)
    assert positives == sum(p.decision for p in predictions)
    assert sum(t for _, _, s in summaries for t in s["table"][2]) == pytest.approx(
        sum(p.score for p in predictions))
    assert all(sum(s["latency"]) == s["events"] for _, _, s in summaries)


def test_what_was_scored_is_summarised_on_feature_summaries_in_plain_json(
        settings, processor, bundles):
    """kcat, a client we did not write, reads the summaries: on their events' partitions,
    keyed by model, adding up to the events scored, feature by feature."""
    publish_champion(settings, signed(bundles[1]))
    sent = send_events(settings, 600)
    predictions_of(settings, 600)
    topic = Topics(settings.topic_prefix).feature_summaries
    reference = Reference.from_json(bundles[1].reference.to_json())
    devices = list(reference.categorical["device"].frequencies)

    summaries = summaries_by_kcat(settings, topic, 600)
    assert sum(s["events"] for _, _, s in summaries) == 600
    assert {(k, s["model"], s["version"]) for _, k, s in summaries} == {
        (b"conversion", "conversion", 1)}
    assert all(p == s["partition"] and s["events"] <= 100 for p, _, s in summaries)
    # A categorical feature's counts: [counts in the reference's order (base64, a byte
    # each), missing, unseen, names].
    counted = Counter()
    for _, _, s in summaries:
        packed, missing, unseen, _ = s["categorical"]["device"]
        counted.update(dict(zip(devices, base64.b64decode(packed), strict=True)))
        counted[None] += missing + unseen
    expected = Counter(i.event.features.get("device") for i in sent)
    assert {d: counted[d] for d in devices} == {d: expected[d] for d in devices}
