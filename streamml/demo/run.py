"""The demo: the whole loop on a local broker, from one command.

A broker (started if none answers), fresh topics, version 1 trained on simulated
history, two scoring workers, the joiner, the monitor and the retrainer as child
processes, then simulated events with a drift in the middle. The drift should be
detected, version 2 published as a canary, promoted, and served.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.live import Live

from contracts.kafka_clients import make_admin
from contracts.records import Deployment, UserEvent
from contracts.settings import Secret, Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from producers.sdk import EventProducer, LabelProducer
from producers.sending import Pacer
from producers.simulator import Simulator, with_labels
from scorer.alert_signing import ALERT_PRIVATE_KEY_VARIABLE
from scorer.artifact import sign_bundle
from scorer.datasets import TrainingRow
from scorer.publishing import publish_as_champion
from scorer.signing import PRIVATE_KEY_VARIABLE, PUBLIC_KEYS_VARIABLE, Signer, signer_from
from scorer.threshold import ThresholdRule
from scorer.training import TrainingConfig, train
from streamml.broker import single_node
from streamml.cli.page_export import ExportError, export_page
from streamml.demo.observer import Observer
from streamml.demo.summary import finish
from streamml.demo.supervisor import Supervisor
from streamml.demo.timeline import Timeline
from streamml.demo.view import render

console = Console()
HISTORY_EVENTS = 20_000
PROMOTION_WAIT_SECONDS = 120.0
# Tuned for a short run: the retrainer reacts to alerts only, on a recent window (large
# enough for the round that refines a new champion), and the canary is judged on a few
# hundred labels per arm.
DEMO_TUNING = {
    "STREAMML_RETRAIN_EVERY_LABELS": "0",
    "STREAMML_RETRAIN_WINDOW_SIZE": "10000",
    "STREAMML_RETRAIN_MIN_ROWS": "1000",
    "STREAMML_RELEASE_CANARY_FRACTION": "0.5",
    "STREAMML_RELEASE_MIN_LABELS": "200",
    "STREAMML_LOG_LEVEL": "INFO",
    # The children's logs are files a person reads, and the summary quotes.
    "STREAMML_LOG_FORMAT": "text",
}


@dataclass(frozen=True, slots=True)
class DemoSeeds:
    """The seeds of the demo's random draws, all derived from one number.

    Only the draws: the services' timing on a busy machine still varies between runs.

    >>> demo_seeds(7) == demo_seeds(7), demo_seeds(7).stream == demo_seeds(8).stream
    (True, False)
    """

    seed: int
    history: int  # the simulated history version 1 is trained on
    training: int  # version 1's splits and search
    stream: int  # the live events and labels


def demo_seeds(seed: int) -> DemoSeeds:
    """Independent seeds for each draw, spawned from ``seed`` (numpy's ``SeedSequence``)."""
    history, training, stream = np.random.SeedSequence(seed).generate_state(3).tolist()
    return DemoSeeds(seed, history, training, stream)


@dataclass
class Run:
    settings: Settings
    events: int
    scenario: str
    rate: float
    out_dir: Path
    seeds: DemoSeeds
    started: float = field(default_factory=time.time)
    drift_sent_at: float | None = None
    sent_events: int = 0
    sent_labels: int = 0
    interrupted: bool = False
    failed: bool = False


def ensure_broker(settings: Settings) -> str:
    """The broker of the settings if it answers; else a local one started on that port."""
    if single_node.answers(settings.bootstrap_servers):
        console.print(f"[green]broker[/] answers at {settings.bootstrap_servers}")
        return settings.bootstrap_servers
    host, _, port = settings.bootstrap_servers.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise single_node.BrokerError(
            f"no broker answers at {settings.bootstrap_servers}; the demo starts one only on "
            "this machine (unset STREAMML_BOOTSTRAP_SERVERS to use 127.0.0.1:9092)"
        )
    with console.status("starting the local Kafka broker (the first run fetches its jars)"):
        state = single_node.start(int(port))
    console.print(f"[green]broker[/] started at {state.bootstrap} (pid {state.pid}); it keeps "
                  f"running for the next run: `streamml kafka stop --port {port}` stops it")
    return state.bootstrap


def run_demo(settings: Settings, *, events: int, scenario: str, rate: float,
             seed: int | None = None, out_dir: Path = Path("demo-output")) -> int:
    # The live view is the demo's output; the children's logs go to their files.
    logging.getLogger().setLevel(logging.WARNING)
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    # Without a key of its own the demo signs with one made for this run.
    private = settings.model_private_key or Secret(Signer.generate().private_text())
    public = signer_from(settings.with_overrides(model_private_key=private)).public_text()
    settings = settings.with_overrides(
        bootstrap_servers=ensure_broker(settings),
        topic_prefix=f"demo-{run_id}.", group_prefix=f"demo-{run_id}",
        model_private_key=private,
        model_public_keys=",".join(filter(None, (settings.model_public_keys, public))),
        alert_private_key=settings.alert_private_key or Secret(Signer.generate().private_text()),
    )
    seeds = demo_seeds(secrets.randbelow(2**32) if seed is None else seed)
    run = Run(settings, events, scenario, rate, out_dir / run_id, seeds)
    console.print(f"[green]run[/] {run_id}: seed {seeds.seed} (repeat with --seed "
                  f"{seeds.seed}), topics {settings.topic_prefix}*, logs in {run.out_dir / 'logs'}")
    _fresh_topics(settings, out_dir)
    _publish_first_version(settings, seeds)
    supervisor = Supervisor(run.out_dir / "logs", _child_env(settings))
    timeline = Timeline(start=run.started)
    observer = Observer(settings, timeline)
    observer.start()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    ports: dict[str, int] = {}
    try:
        ports.update(_start_children(supervisor, settings))
        _wait_ready(supervisor, ports)
        with Live(console=console, refresh_per_second=4) as live:
            _stream(run, supervisor, observer, live)
    except KeyboardInterrupt:
        run.interrupted = True
        console.print("[yellow]interrupted: stopping every child[/]")
    except ChildFailed as exc:
        run.failed = True
        console.print(f"[red]{exc}[/]")
    finally:
        # Stopping is bounded (each child gets 20 s before a kill); a second SIGTERM
        # must not cut it short and leave children behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _save_monitor_page(run, settings, ports)
            observer.stop()
        finally:
            supervisor.stop_all()
            signal.signal(signal.SIGTERM, previous)
    return finish(run, timeline, supervisor, console)


def _save_monitor_page(run: Run, settings: Settings, ports: dict[str, int]) -> None:
    """The monitor's page as the run ends, beside the report: what on-call would have seen."""
    if "monitor" not in ports:
        return
    token = settings.http_token.reveal() if settings.http_token else None
    try:
        export_page(f"http://127.0.0.1:{ports['monitor']}/", run.out_dir / "monitor.html",
                    token=token)
    except ExportError as exc:
        console.print(f"[yellow]the monitor's page was not saved: {exc}[/]")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a container stopping) stops the children as Ctrl-C does."""
    raise KeyboardInterrupt


def earlier_run_topics(topics: Iterable[str], out_dir: Path, current_prefix: str) -> list[str]:
    """The topics of the earlier runs whose folders are in ``out_dir``: only this
    folder's own runs, so that a shared broker keeps everyone else's ``demo-*`` topics."""
    runs = {f"demo-{d.name}" for d in out_dir.iterdir() if d.is_dir()} if out_dir.is_dir() \
        else set()
    return sorted(t for t in topics if not t.startswith(current_prefix)
                  and t.partition(".")[0] in runs)


def _fresh_topics(settings: Settings, out_dir: Path) -> None:
    admin = make_admin(settings)
    old = earlier_run_topics(admin.list_topics(timeout=10).topics, out_dir,
                             settings.topic_prefix)
    if old:
        console.print(f"[green]topics[/] of {len({t.partition('.')[0] for t in old})} earlier "
                      f"run(s) in {out_dir}/ deleted")
        admin.delete_topics(old, operation_timeout=30)
    ensure_topics(admin, Topics(settings.topic_prefix).specs(
        partitions=settings.partitions, replication_factor=settings.replication_factor))


def _publish_first_version(settings: Settings, seeds: DemoSeeds) -> None:
    with console.status("training version 1 on simulated history"):
        start = datetime.now(UTC) - timedelta(days=1)
        history = Simulator(seed=seeds.history, start=start).events(HISTORY_EVENTS)
        rows = [TrainingRow(i.event.features, i.label, i.event.ts) for i in history]
        config = TrainingConfig(
            threshold_rule=ThresholdRule.parse(settings.decision_threshold_rule),
            random_state=seeds.training)
        bundle, report = train(rows, model=settings.model_name, version=1, config=config)
        publish_as_champion(settings, sign_bundle(bundle, signer_from(settings)),
                            decided_by="demo", reason="version 1 trained on history")
    m = report.metrics
    console.print(f"[green]version 1[/] published (ROC AUC {m['roc_auc']:.3f}, "
                  f"PR AUC {m['pr_auc']:.3f}, log loss {m['log_loss']:.3f}; at threshold "
                  f"{report.threshold:.3f}: precision {m['precision']:.3f}, "
                  f"recall {m['recall']:.3f}, F1 {m['f1']:.3f})")


def _child_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **DEMO_TUNING,
           "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
           "STREAMML_GROUP_PREFIX": settings.group_prefix,
           "STREAMML_PARTITIONS": str(settings.partitions)}
    # Only the retrainer gets the private key (_private_env); the others verify.
    for name in (PRIVATE_KEY_VARIABLE, PRIVATE_KEY_VARIABLE + "_FILE",
                 PUBLIC_KEYS_VARIABLE + "_FILE", ALERT_PRIVATE_KEY_VARIABLE,
                 ALERT_PRIVATE_KEY_VARIABLE + "_FILE"):
        env.pop(name, None)
    env[PUBLIC_KEYS_VARIABLE] = settings.model_public_keys or ""
    return env


def _private_env(settings: Settings) -> dict[str, str]:
    key = settings.model_private_key
    return {PRIVATE_KEY_VARIABLE: key.reveal()} if key is not None else {}


def _alert_env(settings: Settings) -> dict[str, str]:
    """The alert key of the monitor and the retrainer, which sign what they say on alerts."""
    key = settings.alert_private_key
    return {ALERT_PRIVATE_KEY_VARIABLE: key.reveal()} if key is not None else {}


def _start_children(supervisor: Supervisor, settings: Settings) -> dict[str, int]:
    names = ("scoring-1", "scoring-2", "joiner", "monitor")
    ports = dict(zip(names, single_node.free_ports(len(names)), strict=True))
    supervisor.start("scoring-1", ["process", "--web-port", str(ports["scoring-1"])])
    supervisor.start("scoring-2", ["process", "--web-port", str(ports["scoring-2"])])
    supervisor.start("joiner", ["join", "--web-port", str(ports["joiner"]),
                                "--label-wait", "60"])
    supervisor.start("monitor", ["monitor", "--web-port", str(ports["monitor"])],
                     _alert_env(settings))
    supervisor.start("retrainer", ["retrain"], {**_private_env(settings), **_alert_env(settings)})
    return ports


def _wait_ready(supervisor: Supervisor, ports: dict[str, int], timeout: float = 120.0) -> None:
    import json
    import urllib.request

    deadline = time.monotonic() + timeout
    pending = set(ports)
    with console.status("starting scoring ×2, joiner, monitor and retrainer"):
        while pending and time.monotonic() < deadline:
            _check_children(supervisor)
            for name in list(pending):
                try:
                    url = f"http://127.0.0.1:{ports[name]}/health"
                    with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310
                        health = json.loads(answer.read())
                except OSError:
                    continue
                if not name.startswith("scoring") or health.get("partitions"):
                    pending.discard(name)
            time.sleep(0.5)
    if pending:
        raise ChildFailed(f"{', '.join(sorted(pending))} did not become ready in {timeout:.0f} s")
    console.print("[green]children[/] ready: scoring ×2, joiner, monitor, retrainer")


class ChildFailed(Exception):
    """A child process died or never became ready."""


def _check_children(supervisor: Supervisor) -> None:
    dead = supervisor.dead()
    if dead:
        raise ChildFailed(", ".join(f"{c.name} exited with {c.process.returncode}"
                                    for c in dead))


def _stream(run: Run, supervisor: Supervisor, observer: Observer, live: Live) -> None:
    """Send ``run.events`` events (labels as they fall due); with a drift scenario, go on
    with the drifted stream until version 2 is promoted, for two minutes more (four when a
    canary is on trial then, see :func:`overtime_over`): the canary is judged on live
    labels, so it needs traffic to be judged."""
    drift_at = run.events // 2
    simulator = Simulator(seed=run.seeds.stream, scenario=run.scenario, drift_at=drift_at,
                          start=datetime.now(UTC), events_per_second=max(run.rate, 1.0),
                          label_delay_s=2.0, id_prefix=f"d{int(run.started)}")
    pacer = Pacer(run.rate)
    next_view = 0.0
    overtime_until: float | None = None
    with EventProducer(run.settings) as events, LabelProducer(run.settings) as labels:
        for record in with_labels(simulator.events(run.events * 4), drain=False):
            if isinstance(record, UserEvent):
                if run.sent_events >= run.events:
                    overtime_until = overtime_until or time.monotonic() + PROMOTION_WAIT_SECONDS
                    with observer.lock:
                        deployment = observer.timeline.deployment
                    if overtime_over(run.scenario, deployment,
                                     time.monotonic() - overtime_until):
                        break
                pacer.wait()
                events.send_record(record)
                run.sent_events += 1
                if run.sent_events == drift_at:
                    run.drift_sent_at = time.time()
            else:
                labels.send_record(record)
                run.sent_labels += 1
            if time.monotonic() >= next_view:
                _check_children(supervisor)
                with observer.lock:
                    live.update(render(run, observer.timeline))
                next_view = time.monotonic() + 0.25
    with observer.lock:
        live.update(render(run, observer.timeline))


def overtime_over(scenario: str, deployment: Deployment | None, past_deadline_s: float) -> bool:
    """Whether the drifted stream's overtime ends, ``past_deadline_s`` after its deadline
    (negative before it): at a promotion of a newer champion, or at the deadline. A
    first canary still on trial then (on a loaded machine it can be published late) gets
    one more wait: a demo that stopped sending would leave it without the labels it is
    judged on."""
    if scenario == "stable":
        return True
    if deployment is not None and deployment.champion >= 2 and deployment.canary is None:
        return True
    # Only the first newer version's trial holds the stream: a refining round's canary
    # beside a promoted champion is left to the deadline.
    first_trial = deployment is not None and deployment.canary is not None \
        and deployment.champion < 2
    return past_deadline_s > (PROMOTION_WAIT_SECONDS if first_trial else 0.0)


__all__ = [
    "ChildFailed", "DEMO_TUNING", "DemoSeeds", "HISTORY_EVENTS", "PROMOTION_WAIT_SECONDS",
    "Run", "demo_seeds", "earlier_run_topics", "ensure_broker", "overtime_over", "run_demo",
]
