"""The demo's live view: one table, redrawn four times a second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table

from streamml.demo.timeline import Timeline

if TYPE_CHECKING:
    from streamml.demo.run import Run


def render(run: Run, timeline: Timeline) -> Table:
    elapsed = max(time.time() - run.started, 1e-9)
    table = Table(title=f"streamml demo: {run.scenario}, {run.events:,} events at "
                        f"{run.rate:g}/s", show_header=False, min_width=60)
    table.add_column("figure", style="bold")
    table.add_column("value")
    overtime = max(0, run.sent_events - run.events)
    sent = f"{run.sent_events:,} ({run.sent_events / elapsed:,.0f}/s)"
    if overtime:
        sent += f", {overtime:,} beyond --events while the canary is judged"
    table.add_row("events sent", sent)
    table.add_row("labels sent", f"{run.sent_labels:,}")
    by_version = ", ".join(
        f"v{v}: " + " ".join(f"{route} {n:,}" for route, n in sorted(routes.items()))
        for v, routes in sorted(timeline.predictions.items())) or "none yet"
    table.add_row("predictions", by_version)
    table.add_row("labels joined", f"{timeline.labeled:,}")
    deployment = timeline.deployment
    if deployment is not None:
        serving = f"champion v{deployment.champion}"
        if deployment.canary is not None:
            serving += f", canary v{deployment.canary} at {deployment.canary_fraction:.0%}"
        table.add_row("serving", f"{serving} ({deployment.decided_by}: {deployment.reason})")
    drift = "not yet" if run.drift_sent_at is None else \
        f"started {run.drift_sent_at - run.started:.0f} s in"
    table.add_row("drift", drift)
    firing = ", ".join(sorted({f"{a.kind}/{a.metric}" for a in timeline.firing.values()}))
    table.add_row("firing alerts", f"[red]{firing}[/]" if firing else "none")
    return table


__all__ = ["render"]
