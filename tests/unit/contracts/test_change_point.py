"""The change point an alert carries survives the trip, and bad ones read as unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from contracts.change_point import ChangePoint, change_point_details, change_point_of
from contracts.records import Alert


def alert_with(details: dict[str, msgspec.Raw]) -> Alert:
    return Alert(fingerprint="f", kind="drift", severity="warning", status="firing",
                 model="m", version=1, metric="concept", value=None, threshold=None,
                 window="", details=details, started_at=datetime(2026, 1, 1, tzinfo=UTC),
                 runbook="")


def test_change_point_round_trips_through_an_encoded_alert() -> None:
    cp = ChangePoint(at=datetime(2026, 1, 1, 0, 12, 34, 567000, tzinfo=UTC),
                     offsets=(("labeled-events", 0, 1234), ("labeled-events", 1, 1180)),
                     source="adwin")
    wire = msgspec.json.encode(alert_with(change_point_details(cp)))

    assert change_point_of(msgspec.json.decode(wire, type=Alert)) == cp


def test_value_follows_the_agreed_format() -> None:
    cp = ChangePoint(at=datetime(2026, 1, 1, 0, 12, 34, 567000, tzinfo=UTC),
                     offsets=(("labeled-events", 0, 1234),), source="window")

    value = msgspec.json.decode(change_point_details(cp)["change_point"])

    assert value == {"at": "2026-01-01T00:12:34.567000+00:00",
                     "offsets": [["labeled-events", 0, 1234]], "source": "window"}


def test_times_in_other_zones_are_read_as_utc() -> None:
    raw = msgspec.Raw(b'{"at": "2026-01-01T02:00:00+02:00", "offsets": [], "source": "adwin"}')

    cp = change_point_of(alert_with({"change_point": raw}))

    assert cp is not None and cp.at == datetime(2026, 1, 1, tzinfo=UTC)
    assert cp.at.tzinfo == UTC


def test_missing_offsets_mean_none_known() -> None:
    raw = msgspec.Raw(b'{"at": "2026-01-01T00:00:00Z", "source": "window"}')

    cp = change_point_of(alert_with({"change_point": raw}))

    assert cp is not None and cp.offsets == () and cp.offset_of("t", 0) is None


def test_an_alert_without_a_change_point_has_none() -> None:
    assert change_point_of(alert_with({"rule": msgspec.Raw(b'"x"')})) is None


@pytest.mark.parametrize("value", [
    b'"yesterday"',
    b'{"at": "2026-01-01T00:00:00", "offsets": [], "source": "adwin"}',
    b'{"at": "not a time", "offsets": [], "source": "adwin"}',
    b'{"at": "2026-01-01T00:00:00Z", "offsets": [["t", -1, 3]], "source": "adwin"}',
    b'{"at": "2026-01-01T00:00:00Z", "offsets": [["t", 0]], "source": "adwin"}',
    b'{"at": "2026-01-01T00:00:00Z", "offsets": []}',
    b'{"at": "2026-01-01T00:00:00Z", "offsets": [], "source": ""}',
    b'{not json',
    b'null',
])
def test_malformed_change_points_read_as_unknown(value: bytes) -> None:
    assert change_point_of(alert_with({"change_point": msgspec.Raw(value)})) is None


def test_unknown_fields_are_tolerated_for_newer_writers() -> None:
    raw = msgspec.Raw(b'{"at": "2026-01-01T00:00:00Z", "offsets": [], "source": "adwin",'
                      b' "confidence": 0.9}')

    assert change_point_of(alert_with({"change_point": raw})) is not None


def test_a_naive_change_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ChangePoint(at=datetime(2026, 1, 1), source="adwin")  # noqa: DTZ001


def test_details_are_written_in_utc_whatever_the_zone() -> None:
    at = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))

    value = msgspec.json.decode(change_point_details(ChangePoint(at=at, source="adwin"))[
        "change_point"])

    assert value["at"] == "2026-01-01T00:00:00+00:00"
