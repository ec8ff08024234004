"""Sessions of shop users with a known conversion rule and scripted drift. Pure: no Kafka.

Features are drawn a chunk at a time with numpy (200,000 events take a second or
two); each chunk has its own seeded generator, so a run is reproducible for a seed
and a longer run starts with exactly the events of a shorter one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.records import Label, UserEvent
from producers.exceptions import SimulatorError
from producers.population import (
    CATEGORICAL_FEATURES,
    FEATURES,
    UserPool,
    draw_sessions,
    linear_score,
    sigmoid,
)
from producers.scenarios import SCENARIOS, Scenario, drift_weight

CHUNK: Final = 8_192
DEFAULT_START: Final = datetime(2026, 1, 1, tzinfo=UTC)
# Real trackers lose some values: sent as null when the field was empty, left out
# altogether when the code that sets it never ran.
MAY_BE_MISSING: Final = (
    "days_since_last_visit", "cart_value", "time_on_site_s", "channel", "country",
)
MISSING_AS_ABSENT: Final = frozenset({"time_on_site_s", "channel"})

_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Batch:
    """One chunk of simulated events as columns; ``features`` holds observed values.

    Missing values are NaN (numbers) or None (categories). ``regime`` marks events
    drawn after the change, ``probability`` is the rule's true conversion probability.
    """

    index: NDArray[np.int64]
    offset_s: NDArray[np.float64]
    user: NDArray[np.int64]
    features: dict[str, NDArray[np.float64] | NDArray[np.object_]]
    weight: NDArray[np.float64]
    regime: NDArray[np.bool_]
    probability: NDArray[np.float64]
    label: NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """An event, its label, and when the label becomes known (event time and event count)."""

    index: int
    event: UserEvent
    label: int
    label_due: datetime
    label_due_index: int

    def label_record(self) -> Label:
        """The label as the ``labels`` topic carries it, stamped when it became known."""
        e = self.event
        return Label(event_id=e.event_id, user_id=e.user_id, ts=self.label_due, label=self.label)

    def training_line(self) -> bytes:
        """The event's JSON object plus its ``label``, one line of a training file."""
        return _ENCODER.encode(self.event)[:-1] + b',"label":%d}\n' % self.label


@dataclass(frozen=True, slots=True, kw_only=True)
class Simulator:
    """Seeded visitors of a web shop, with drift from event ``drift_at`` on.

    Parameters
    ----------
    seed : int
        Seed of every random draw; the same seed gives the same events.
    scenario : str
        One of :data:`producers.scenarios.SCENARIOS`: ``stable``, ``covariate-shift``,
        ``concept-drift``, ``label-shift``, ``new-category``, ``covariate-shift-return``,
        ``covariate-concept-shift``, ``concept-drift-return``.
    drift_at : int
        Index of the first event that may come from the changed regime.
    gradual : int
        0 for a sudden change; else the change is a mixture growing over this many events.
    return_at : int or None
        For scenarios that come back, where the original regime returns
        (default ``2 * drift_at``); ``gradual`` applies to the way back too.
    label_delay_s, label_delay_events : float, int
        A label is due this many seconds of event time, and events, after its event.
    start : datetime
        Event time of the first event (timezone-aware).
    events_per_second : float
        Mean event-time rate; gaps between events are exponential.
    n_users : int
        Size of the user pool; active users come back more often than others.
    missing_rate : float
        Share of missing values in each feature that can go missing.
    id_prefix : str or None
        Event ids are ``<id_prefix>-<index>``; default ``s<seed>``.

    Examples
    --------
    >>> sim = Simulator(seed=7, scenario="label-shift", drift_at=1_000)
    >>> items = list(sim.events(3))
    >>> items[0].event.user_id.startswith("u"), items[0].label in (0, 1)
    (True, True)
    >>> [i.event.event_id for i in items] == [i.event.event_id for i in sim.events(3)]
    True
    """

    seed: int = 0
    scenario: str = "stable"
    drift_at: int = 10_000
    gradual: int = 0
    return_at: int | None = None
    label_delay_s: float = 300.0
    label_delay_events: int = 0
    start: datetime = DEFAULT_START
    events_per_second: float = 5.0
    n_users: int = 5_000
    missing_rate: float = 0.03
    id_prefix: str | None = None

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise SimulatorError(
                f"unknown scenario {self.scenario!r}; expected one of {', '.join(SCENARIOS)}"
            )
        for name in ("seed", "drift_at", "gradual", "label_delay_events"):
            if getattr(self, name) < 0:
                raise SimulatorError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.return_at is not None and self.return_at <= self.drift_at:
            raise SimulatorError(
                f"return_at ({self.return_at}) must come after drift_at ({self.drift_at})"
            )
        if self.label_delay_s < 0 or self.events_per_second <= 0 or self.n_users < 1:
            raise SimulatorError(
                "label_delay_s must be >= 0, events_per_second > 0 and n_users >= 1"
            )
        if not 0.0 <= self.missing_rate <= 0.5:
            raise SimulatorError(f"missing_rate must be within [0, 0.5], got {self.missing_rate}")
        if self.start.tzinfo is None:
            raise SimulatorError("start needs a timezone, e.g. datetime(2026, 1, 1, tzinfo=UTC)")

    @property
    def definition(self) -> Scenario:
        return SCENARIOS[self.scenario]

    @property
    def effective_return_at(self) -> int | None:
        """Where the original regime comes back, for scenarios that return; else None."""
        if not self.definition.returns:
            return None
        return self.return_at if self.return_at is not None else 2 * self.drift_at

    def batches(self, n_events: int) -> Iterator[Batch]:
        """The first ``n_events`` events, as column chunks."""
        scenario = self.definition
        users = UserPool.draw(np.random.default_rng([self.seed, 0]), self.n_users)
        before, after = scenario.before, scenario.after
        intercepts = (before.intercept, after.intercept)
        clock = 0.0
        for k, first in enumerate(range(0, n_events, CHUNK)):
            # Whole chunks are always drawn so a run's prefix never depends on its length.
            rng = np.random.default_rng([self.seed, k + 1])
            index = np.arange(first, first + CHUNK, dtype=np.int64)
            weight = drift_weight(index, drift_at=self.drift_at, gradual=self.gradual,
                                  return_at=self.effective_return_at)
            regime = rng.random(CHUNK) < weight
            offset = clock + np.cumsum(rng.exponential(1.0 / self.events_per_second, CHUNK))
            clock = float(offset[-1])
            user = rng.choice(len(users), size=CHUNK, p=users.activity)
            true = draw_sessions(rng, user, users, regime, before.population, after.population)
            score = linear_score(true, regime, before.rule, after.rule)
            probability = sigmoid(np.where(regime, intercepts[1], intercepts[0]) + score)
            label = (rng.random(CHUNK) < probability).astype(np.int8)
            observed = _hide(rng, true, self.missing_rate)
            keep = slice(0, min(CHUNK, n_events - first))
            yield Batch(
                index[keep], offset[keep], user[keep],
                {name: values[keep] for name, values in observed.items()},
                weight[keep], regime[keep], probability[keep], label[keep],
            )

    def events(self, n_events: int) -> Iterator[SimulatedEvent]:
        """The first ``n_events`` events as contract records with their labels."""
        start = self.start.timestamp()
        prefix = self.id_prefix or f"s{self.seed}"
        delay = timedelta(seconds=self.label_delay_s)
        for batch in self.batches(n_events):
            columns = [(n, batch.features[n].tolist(), n in MISSING_AS_ABSENT) for n in FEATURES]
            rows = zip(batch.index.tolist(), (start + batch.offset_s).tolist(),
                       batch.user.tolist(), batch.label.tolist(), strict=True)
            for i, (index, ts, user, label) in enumerate(rows):
                features: dict[str, float | str | None] = {}
                for name, values, absent in columns:
                    value = values[i]
                    if value is None or value != value:  # NaN stands for missing in a column
                        if absent:
                            continue
                        value = None
                    features[name] = value
                when = datetime.fromtimestamp(ts, UTC)
                event = UserEvent(event_id=f"{prefix}-{index:09d}", user_id=f"u{user:06d}",
                                  ts=when, features=features)
                yield SimulatedEvent(index, event, label, when + delay,
                                     index + self.label_delay_events)


def with_labels(
    items: Iterable[SimulatedEvent], *, drain: bool = True
) -> Iterator[UserEvent | Label]:
    """Events in order, each label slotted in once the stream has passed its due point.

    A label is released right after the first event at or past both its
    ``label_due`` (event time) and its ``label_due_index`` (event count); with
    ``drain`` the labels still pending when the events run out follow at the end.

    >>> sim = Simulator(label_delay_s=0, label_delay_events=1)
    >>> [type(r).__name__[0] for r in with_labels(sim.events(3))]
    ['U', 'U', 'L', 'U', 'L', 'L']
    """
    # A constant delay keeps due points in event order, so a FIFO is enough.
    pending: deque[SimulatedEvent] = deque()
    for item in items:
        yield item.event
        pending.append(item)
        while pending and pending[0].label_due <= item.event.ts \
                and pending[0].label_due_index <= item.index:
            yield pending.popleft().label_record()
    while drain and pending:
        yield pending.popleft().label_record()


def _hide(
    rng: np.random.Generator, true: dict[str, NDArray[np.float64] | NDArray[np.str_]], rate: float
) -> dict[str, NDArray[np.float64] | NDArray[np.object_]]:
    observed: dict[str, NDArray[np.float64] | NDArray[np.object_]] = {}
    for name, values in true.items():
        categorical = name in CATEGORICAL_FEATURES
        column = values.astype(object if categorical else np.float64)
        if name in MAY_BE_MISSING:
            missing = rng.random(len(values)) < rate
            column[missing] = None if categorical else np.nan
        observed[name] = column
    return observed
