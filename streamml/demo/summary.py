"""The end of the demo: a summary table, the HTML report, and what went wrong if anything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from streamml.demo.report import Chart, Marker, Series, write_report
from streamml.demo.supervisor import Supervisor
from streamml.demo.timeline import Timeline

if TYPE_CHECKING:
    from streamml.demo.run import Run


def finish(run: Run, timeline: Timeline, supervisor: Supervisor, console: Console) -> int:
    dead = [c for c in supervisor.children
            if c.process.returncode not in (0, -15, 143, None)]
    for child in dead:
        console.print(f"[red]{child.name} exited with {child.process.returncode}[/]; "
                      f"its last lines ({child.log}):")
        console.print(child.tail(), markup=False, highlight=False)
    markers = _markers(run, timeline)
    summary = _summary(run, timeline, markers)
    table = Table(title="streamml demo: summary", show_header=False)
    for key, value in summary:
        table.add_row(key, value)
    console.print(table)
    end = max([run.sent_events and 1.0] + [m.at for m in markers]
              + [t for t, _ in timeline.loss_series()] + [1.0]) + 5
    report = write_report(
        run.out_dir / "report.html", title=f"streamml demo: {run.scenario}",
        charts=[
            Chart("log loss of labeled events (per 5 s)", "", [Series("log loss",
                                                                       timeline.loss_series())]),
            Chart("predictions per second, by version", "/s",
                  [Series(f"v{v}", timeline.rate_series(v))
                   for v in sorted(timeline.predictions)]),
        ],
        markers=markers, chart_markers=[m for m in markers
                                        if m.kind != "alert" or m.label.endswith("firing")],
        summary=summary, t_end=end,
    )
    console.print(f"report: [bold]{report.resolve()}[/]  logs: {supervisor.log_dir.resolve()}")
    page = run.out_dir / "monitor.html"
    if page.is_file():
        console.print(f"the monitor's page at the end: [bold]{page.resolve()}[/]")
    if dead or run.interrupted or run.failed:
        return 1
    deployment = timeline.deployment
    if run.scenario != "stable" and (deployment is None or deployment.champion < 2):
        console.print("[yellow]version 2 was not promoted within the run; the retrainer's "
                      "last decisions:[/]")
        console.print(retrainer_decisions(supervisor.log_dir / "retrainer.log"), markup=False,
                      highlight=False)
        return 1
    return 0


# The retrainer's log lines that say what it decided or waited for.
DECISIONS = re.compile(r"status: |job done|release |trial|drift episode|before round|gave up")


def retrainer_decisions(log: Path, lines: int = 12) -> str:
    """The last ``lines`` decisions in the retrainer's log, or why there are none."""
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(no retrainer log: {exc.strerror})"
    found = [line for line in text.splitlines() if DECISIONS.search(line)]
    return "\n".join(found[-lines:]) or "(the retrainer logged no decision)"


def _markers(run: Run, timeline: Timeline) -> list[Marker]:
    markers = [Marker(at, text, "alert") for at, text in timeline.alert_log]
    if run.drift_sent_at is not None:
        markers.append(Marker(run.drift_sent_at - run.started, "drift begins", "drift"))
    previous = None
    for at, deployment in timeline.deployments:
        label = f"champion v{deployment.champion}"
        if deployment.canary is not None:
            label = f"canary v{deployment.canary} {deployment.canary_fraction:.0%}"
        if label != previous:
            markers.append(Marker(at, label, "version"))
            previous = label
    return markers


def _summary(run: Run, timeline: Timeline, markers: list[Marker]) -> list[tuple[str, str]]:
    rows = [("scenario", run.scenario), ("events sent", f"{run.sent_events:,}"),
            ("labels sent", f"{run.sent_labels:,}"), ("labels joined", f"{timeline.labeled:,}")]
    for version, routes in sorted(timeline.predictions.items()):
        rows.append((f"predictions v{version}", ", ".join(f"{r} {n:,}" for r, n in
                                                           sorted(routes.items()))))
    drift = next((m.at for m in markers if m.kind == "drift"), None)
    first_alert = next((m.at for m in sorted(markers, key=lambda m: m.at)
                        if m.kind == "alert" and drift is not None and m.at >= drift), None)
    promoted = next((at for at, d in timeline.deployments if d.champion >= 2), None)
    if drift is not None and first_alert is not None:
        rows.append(("drift → first alert", f"{first_alert - drift:.0f} s"))
    if drift is not None and promoted is not None:
        rows.append(("drift → version 2 champion", f"{promoted - drift:.0f} s"))
    if timeline.deployment is not None:
        rows.append(("serving at the end", f"champion v{timeline.deployment.champion}"))
    return rows


__all__ = ["DECISIONS", "finish", "retrainer_decisions"]
