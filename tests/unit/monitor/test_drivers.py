"""What drives the score: the monitor's tally of explained predictions, on the page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import msgspec

from contracts.records import Prediction
from monitor.dispatch import Dispatcher
from monitor.drivers import MAX_FEATURES, OTHERS, Drivers
from monitor.page import render
from monitor.sinks import MemorySink
from scorer.bundle import ModelBundle
from tests.unit.monitor.conftest import make_pipeline, simulator


def test_the_page_ranks_the_features_explained_predictions_name_most(
        bundle: ModelBundle) -> None:
    pipeline = make_pipeline(bundle)
    events = [i.event for i in simulator("stable").events(3000)]
    scores, decisions, explained = bundle.score_explained([e.features for e in events], 3)
    assert explained is not None
    plain = msgspec.structs.replace  # explained predictions and, beside them, plain ones
    predictions = [Prediction(event_id=e.event_id, user_id=e.user_id, ts=e.ts,
                              model="conversion", version=1, route="champion", score=s,
                              decision=d, scored_at=e.ts + timedelta(milliseconds=40),
                              contributions=c)
                   for e, s, d, c in zip(events, scores.tolist(), decisions.tolist(), explained,
                                         strict=True)]
    predictions[::2] = [plain(p, contributions=msgspec.UNSET) for p in predictions[::2]]
    pipeline.add(predictions=predictions)

    html = render(pipeline, Dispatcher([MemorySink()]))
    section = re.search(r"<h3>What drives the score</h3>(.*?)</table>", html)
    assert section is not None and "1,500 explained predictions" in section.group(1)
    shown = re.findall(r"<tr><td>([a-z_]+)</td><td class=num>([0-9.]+)%", section.group(1))
    counts = Counter(name for c in explained[1::2] for name in c)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:len(shown)]
    assert [name for name, _ in shown] == [name for name, _ in expected]
    assert float(shown[0][1]) == round(100 * expected[0][1] / 1500, 1)


def test_names_beyond_the_bound_are_counted_together() -> None:
    drivers = Drivers()
    drivers.add([{f"f{i}": 1.0} for i in range(MAX_FEATURES + 10)])

    assert len(drivers.counts) == MAX_FEATURES + 1
    assert drivers.counts[OTHERS] == 10 and drivers.explained == MAX_FEATURES + 10
