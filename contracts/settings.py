"""Typed, frozen settings, one class per service over a shared part, read from
``STREAMML_*`` variables and an optional file.

Every field's variable is ``STREAMML_`` plus its name in capitals; the bootstrap
servers are also read from the usual ``KAFKA_BOOTSTRAP_SERVERS``. A TOML file named by
``STREAMML_SETTINGS_FILE`` may hold the same names in lower case; variables win over
the file. Tests build settings from a mapping, never from the process environment.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from contracts.exceptions import SettingsError
from contracts.keys import decode_key, split_keys
from contracts.records import MAX_OUTCOMES, SUMMARY_EVENTS

PREFIX: Final = "STREAMML_"
SETTINGS_FILE_VARIABLE: Final = "STREAMML_SETTINGS_FILE"

SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: Final = ("text", "json")
INPUT_FORMATS: Final = ("json", "confluent")
MONITOR_SOURCES: Final = ("summaries", "records")
RETRAIN_STRATEGIES: Final = ("BATCH", "ONLINE")
RETRAIN_ESTIMATORS: Final = ("LOGISTIC", "HGB", "MLP")
RETRAIN_METRICS: Final = ("LOG_LOSS", "ROC_AUC")
RELEASE_MODES: Final = ("CANARY", "SHADOW", "CHAMPION")
THRESHOLD_RULE_FORMS: Final = "f1, positive-rate:R with 0 < R < 1, or cost:C with C > 0"
THRESHOLD_RULE_PATTERN: Final = (
    r"f1|positive-rate:0*\.\d*[1-9]\d*|cost:(?=[0-9.]*[1-9])(\d+(\.\d*)?|\.\d+)"
)


class Secret:
    """A value that never shows itself in a repr, a log line or an error message.

    >>> s = Secret("hunter2")
    >>> s, str(s), s.reveal()
    (Secret('***'), '***', 'hunter2')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _setting(default: Any, doc: str, **meta: Any) -> Any:
    return field(default=default, metadata={"doc": doc, **meta})


@dataclass(frozen=True)
class SharedSettings:
    """What every streamml process reads: the cluster and its security, names, keys, HTTP
    and logs."""

    bootstrap_servers: str = _setting(
        "127.0.0.1:9092", "Kafka bootstrap servers, host:port[,host:port...]",
        aliases=("KAFKA_BOOTSTRAP_SERVERS",),
    )
    security_protocol: str = _setting(
        "PLAINTEXT", "how clients talk to Kafka", choices=SECURITY_PROTOCOLS
    )
    sasl_mechanism: str | None = _setting(None, "SASL mechanism", choices=SASL_MECHANISMS)
    sasl_username: str | None = _setting(None, "SASL user name")
    sasl_password: Secret | None = _setting(None, "SASL password", secret=True)
    ssl_ca_location: str | None = _setting(None, "PEM file of the CA that signed the brokers")
    ssl_certificate_location: str | None = _setting(None, "PEM client certificate (mutual TLS)")
    ssl_key_location: str | None = _setting(None, "PEM client key (mutual TLS)")
    ssl_key_password: Secret | None = _setting(None, "password of the client key", secret=True)
    topic_prefix: str = _setting("", "prefix of every topic name, to share a cluster")
    partitions: int = _setting(3, "partitions of each topic but model-versions", minimum=1)
    replication_factor: int = _setting(1, "replicas of each topic", minimum=1)
    group_prefix: str = _setting("streamml", "prefix of every consumer group id")
    session_timeout_s: int = _setting(
        45, "seconds a consumer group waits for a silent member (a crashed worker) before "
        "giving its partitions to the others (6 to 1800: the bounds a broker allows by "
        "default, group.min/max.session.timeout.ms)", minimum=6, maximum=1800,
    )
    input_format: str = _setting(
        "json", "how applications write user-events and labels: streamml's JSON, or "
        "`confluent`, the wire format of Confluent's Avro and JSON Schema serializers "
        "(schemas by id from STREAMML_SCHEMA_REGISTRY_URL or STREAMML_SCHEMA_DIR)",
        choices=INPUT_FORMATS, lowercase=True,
    )
    monitor_source: str = _setting(
        "summaries", "what the monitor reads of the scoring processor's and the joiner's "
        "work: `summaries`, which the processor writes to feature-summaries and "
        "prediction-summaries as it scores, and the joiner's labeled-outcomes, or "
        "`records`, user-events, predictions and labeled-events themselves (for processors "
        "that write no summaries); set it the same on both",
        choices=MONITOR_SOURCES, lowercase=True,
    )
    schema_registry_url: str | None = _setting(
        None, "URL of a Confluent-compatible Schema Registry the `confluent` input format "
        "reads writers' schemas from")
    schema_registry_user: str | None = _setting(None, "Schema Registry user (basic auth)")
    schema_registry_password: Secret | None = _setting(
        None, "Schema Registry password (basic auth)", secret=True)
    schema_registry_ca_location: str | None = _setting(
        None, "PEM file of the CA that signed the Schema Registry's certificate")
    schema_dir: str | None = _setting(
        None, "directory of writers' schemas by id (`<id>.avsc` Avro, `<id>.json` JSON "
        "Schema), read by the `confluent` input format instead of a registry")
    web_host: str = _setting("127.0.0.1", "address the HTTP servers bind to")
    http_token: Secret | None = _setting(
        None, "bearer token /predict, /health and the monitor's pages require when set "
        "(/live, /ready and /metrics stay open)", secret=True,
    )
    model_name: str = _setting("conversion", "name of the served model")
    model_private_key: Secret | None = _setting(
        None, "Ed25519 private key (base64 of its 32 bytes) signing models and registry "
        "records; only the trainer, the retrainer and `streamml models` changes hold it",
        secret=True,
    )
    model_public_keys: str | None = _setting(
        None, "Ed25519 public keys (base64, separated by commas or lines) whose signatures "
        "on models and registry records are trusted; list the old and the new key while "
        "rotating. The private key's own public key is trusted too", from_file=True,
    )
    alert_private_key: Secret | None = _setting(
        None, "Ed25519 private key (base64 of its 32 bytes) signing what the monitor and the "
        "retrainer write on the alerts topic; only they hold it", secret=True,
    )
    alert_public_keys: str | None = _setting(
        None, "Ed25519 public keys (base64, separated by commas or lines) whose signatures on "
        "alerts the retrainer and the monitor's restart trust; the private key's own public "
        "key is trusted too", from_file=True,
    )
    log_level: str = _setting("INFO", "log level", choices=LOG_LEVELS)
    log_format: str = _setting(
        "text", "log line format: `text`, or `json`: one object a line (`time` in UTC, "
        "`level`, `logger`, `message`, `process`, and `error` with the traceback), so a "
        "newline in a value read from a topic cannot forge a line; the k8s manifests set it",
        choices=LOG_FORMATS, lowercase=True,
    )


@dataclass(frozen=True)
class ScoringSettings(SharedSettings):
    """The scoring processor's own settings."""

    scoring_port: int = _setting(6066, "HTTP port of the scoring processor", minimum=1)
    explain_top_k: int = _setting(
        0, "each prediction carries its k largest feature contributions to the logit: a "
        "linear model's terms, a tree model's path credits (either way, with the intercept "
        "or bias they sum to it); a network's none; 0 for none (0 to 64)",
        minimum=0, maximum=64,
    )
    scoring_runner: str = _setting(
        "kafka", "event loop of the scoring processor: faust-streaming, or kafka (a plain "
        "confluent-kafka consumer)",
        choices=("faust", "kafka"), lowercase=True,
    )


@dataclass(frozen=True)
class JoinerSettings(SharedSettings):
    """The label joiner's own settings."""

    joiner_port: int = _setting(6067, "HTTP port of the label joiner", minimum=1)
    joiner_memory_budget_bytes: int = _setting(
        256 * 1024 * 1024, "bytes of records the label joiner keeps waiting for their labels "
        "(events, predictions, labels; shared by the partitions a worker owns); past it the "
        "oldest are dead-lettered", minimum=1024 * 1024,
    )


# An outcomes record holds a commit's labeled events of a partition (up to 1,000, one
# on a quiet stream): a tenth of the tail in records still refills the windows on a
# quiet stream, without replaying millions of events on a busy one.
OUTCOMES_TAIL_SHARE: Final = 10


@dataclass(frozen=True)
class MonitorSettings(SharedSettings):
    """The monitor's own settings."""

    monitor_port: int = _setting(6068, "HTTP port of the monitor", minimum=1)
    monitor_rules_file: str | None = _setting(
        None, "TOML file of the monitor's windows, detectors and alert rules "
        "(default: the rules shipped in the monitor package)"
    )
    monitor_url: str | None = _setting(
        None, "URL on-call reaches the monitor's page at, for links in alerts "
        "(default: http://WEB_HOST:MONITOR_PORT)"
    )
    monitor_tail_records: int = _setting(
        20_000, "records per partition the monitor re-reads on start to rebuild its windows "
        f"(a summary record counts up to {SUMMARY_EVENTS} events; labeled-outcomes get "
        f"1/{OUTCOMES_TAIL_SHARE} as many records, each up to {MAX_OUTCOMES:,} labeled events)",
        minimum=0,
    )
    alertmanager_url: str | None = _setting(
        None, "Alertmanager base URL the monitor posts alerts to (POST /api/v2/alerts)"
    )
    alert_webhook_url: Secret | None = _setting(
        None, "URL the monitor POSTs every alert record to (secret: such URLs carry tokens)",
        secret=True,
    )


@dataclass(frozen=True)
class RetrainerSettings(SharedSettings):
    """The retrainer's own settings: when and how it trains, and how it releases."""

    retrain_strategy: str = _setting(
        "BATCH", "how the retrainer learns: batch fits on the window, or online (river, "
        "one labeled event at a time)", choices=RETRAIN_STRATEGIES,
    )
    retrain_estimator: str = _setting(
        "LOGISTIC", "estimator of the batch strategy", choices=RETRAIN_ESTIMATORS
    )
    decision_threshold_rule: str = _setting(
        "f1", "how training (the CLI and the retrainer) chooses the decision threshold on "
        "validation scores: the F1-maximising one, the one deciding 1 for a share R of "
        "them, or the one of least expected cost when a false positive costs C false "
        "negatives", pattern=THRESHOLD_RULE_PATTERN, forms=THRESHOLD_RULE_FORMS,
    )
    retrain_window_size: int = _setting(
        20_000, "most labeled events in the retrainer's training window", minimum=50
    )
    retrain_window_max_bytes: int = _setting(
        256 * 1024 * 1024, "most bytes of labeled events (encoded, plus 512 each) in the "
        "retrainer's training window; the oldest leave first", minimum=1024 * 1024,
    )
    retrain_window_age_s: int = _setting(
        7 * 86_400, "oldest labeled event (event time, seconds before the newest) kept "
        "in the training window", minimum=1,
    )
    retrain_min_rows: int = _setting(
        200, "fewest labeled events in the window before a trigger may train", minimum=20
    )
    retrain_every_labels: int = _setting(
        5_000, "retrain after this many new labeled events (0: never on a count)", minimum=0
    )
    retrain_schedule_s: int = _setting(
        0, "retrain (or publish the online model) every this many seconds (0: no schedule)",
        minimum=0,
    )
    retrain_alert_kinds: str = _setting(
        "drift,performance", "a firing, non-info alert whose kind contains one of these "
        "comma-separated words triggers retraining ('none': alerts never do)",
    )
    retrain_holdout_fraction: float = _setting(
        0.4, "most recent share of the window both models are evaluated on (the published "
        "model is refitted on all of it)", minimum=0.05,
        maximum=0.5,
    )
    retrain_metric: str = _setting(
        "LOG_LOSS", "metric comparing challenger with champion, and canary with champion",
        choices=RETRAIN_METRICS,
    )
    retrain_margin: float = _setting(
        0.0, "minimum effect: the lower confidence bound of the challenger's log-loss gain "
        "over the champion must exceed it (with ROC AUC, the gain itself)", minimum=0.0,
    )
    retrain_alpha: float = _setting(
        0.1, "one-sided error rate of the publish test over all rounds of one alert "
        "(round k tests at alpha / 2^k)", minimum=0.0001, maximum=0.5,
    )
    retrain_retry_labels: int = _setting(
        500, "while a drift alert about the champion fires, train again after this many "
        "new post-change labels, doubling after each round (0: one round per alert)",
        minimum=0,
    )
    retrain_max_rounds: int = _setting(
        4, "most training rounds per drift alert", minimum=1
    )
    retrain_refine_factor: int = _setting(
        8, "once a version trained after a drift is the champion, one more round when this "
        "many times the post-change labels it learnt from have arrived (0: never)", minimum=0,
    )
    retrain_min_post_change: int = _setting(
        1000, "fewest labeled events at or after an alert's change point before training "
        "on them (at most the window size)", minimum=20,
    )
    retrain_floor: float | None = _setting(
        None, "a champion worse than this (log loss above, ROC AUC below) is replaced by "
        "any better challenger, margin or not",
    )
    retrain_min_skill: float = _setting(
        0.02, "least relative log-loss gain over predicting the base rate a challenger "
        "needs; below it the window's labels look damaged", minimum=0.0,
    )
    release_mode: str = _setting(
        "CANARY", "how a published version starts: canary, shadow, or straight to champion",
        choices=RELEASE_MODES,
    )
    release_canary_fraction: float = _setting(
        0.1, "share of users a new canary serves", minimum=0.0, maximum=1.0
    )
    release_min_labels: int = _setting(
        200, "labeled events each arm (canary, champion) needs before the release "
        "controller decides", minimum=1,
    )
    release_margin: float = _setting(
        0.01, "non-inferiority margin: the canary is promoted unless worse than the "
        "champion by more than this", minimum=0.0,
    )
    release_guard_error_rate: float = _setting(
        0.1, "a canary whose error rate exceeds the champion's by more than this is "
        "rolled back at once", minimum=0.0, maximum=1.0,
    )
    release_guard_min_labels: int = _setting(
        50, "labeled events each arm needs before the error-rate guard applies", minimum=1
    )
    release_deadline_labels: int = _setting(
        10_000, "a trial still short of its labels after this many labeled events expires: "
        "the champion stays, a warning alert says so", minimum=1,
    )
    release_deadline_s: int = _setting(
        3600, "a trial still short of its labels after this many seconds expires",
        minimum=1,
    )


@dataclass(frozen=True)
class Settings(ScoringSettings, JoinerSettings, MonitorSettings, RetrainerSettings):
    """Everything a streamml process can be told, with defaults that work on a laptop:
    every service's part in the one object read from the environment. A service's own
    part (:class:`ScoringSettings` and the others) holds what it reads and no more.

    >>> s = Settings.from_mapping({"STREAMML_PARTITIONS": "6", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"})
    >>> s.partitions, s.bootstrap_servers, s.web_host
    (6, 'k:9092', '127.0.0.1')
    """

    @classmethod
    def from_mapping(cls, environ: Mapping[str, str]) -> Settings:
        """Read settings from ``environ`` (and the file it names), validating every value."""
        values: dict[str, Any] = {}
        file_name = environ.get(SETTINGS_FILE_VARIABLE)
        file_values = _read_file(Path(file_name)) if file_name else {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(file_values) - known)
        if unknown:
            raise SettingsError(
                f"{file_name}: unknown setting(s) {', '.join(unknown)}; "
                f"known settings are {', '.join(sorted(known))}"
            )
        for f in fields(cls):
            variable = PREFIX + f.name.upper()
            names = (variable, *f.metadata.get("aliases", ()))
            raw = next((environ[n] for n in names if environ.get(n) not in (None, "")), None)
            source = next((n for n in names if environ.get(n) not in (None, "")), variable)
            if raw is None and f.name in file_values:
                raw, source = str(file_values[f.name]), f"{file_name}: {f.name}"
            from_file = f.metadata.get("secret") or f.metadata.get("from_file")
            if raw is None and from_file and environ.get(variable + "_FILE"):
                # Docker and Kubernetes secrets arrive as files, never as image layers.
                source = variable + "_FILE"
                raw = _read_secret_file(source, environ[source])
            if raw is not None:
                values[f.name] = _parse(f.name, source, raw.strip(), f.type, f.metadata)
        settings = cls(**values)
        settings._check_consistency()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def _check_consistency(self) -> None:
        if self.model_private_key is not None:
            decode_key(self.model_private_key.reveal(), PREFIX + "MODEL_PRIVATE_KEY")
        for key in split_keys(self.model_public_keys or ""):
            decode_key(key, PREFIX + "MODEL_PUBLIC_KEYS")
        if self.alert_private_key is not None:
            decode_key(self.alert_private_key.reveal(), PREFIX + "ALERT_PRIVATE_KEY")
        for key in split_keys(self.alert_public_keys or ""):
            decode_key(key, PREFIX + "ALERT_PUBLIC_KEYS")
        if self.security_protocol.startswith("SASL"):
            if not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
                raise SettingsError(
                    f"STREAMML_SECURITY_PROTOCOL={self.security_protocol} needs "
                    "STREAMML_SASL_MECHANISM, STREAMML_SASL_USERNAME and STREAMML_SASL_PASSWORD"
                )
        for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
            location = getattr(self, name)
            if location and not Path(location).is_file():
                raise SettingsError(
                    f"{PREFIX}{name.upper()}={location}: no such file; expected a PEM file"
                )


# Who reads which settings, in the order the README's tables list them.
SECTIONS: Final = (
    ("every service", SharedSettings),
    ("the scoring processor", ScoringSettings),
    ("the label joiner", JoinerSettings),
    ("the monitor", MonitorSettings),
    ("the retrainer", RetrainerSettings),
)


def describe() -> list[tuple[str, str, str, str]]:
    """(who reads it, variable, default, meaning) of every setting, as the README shows them.

    >>> describe()[0][:3]
    ('every service', 'STREAMML_BOOTSTRAP_SERVERS', '127.0.0.1:9092')
    """
    rows = []
    for section, part in SECTIONS:
        own = part.__annotations__
        for f in fields(part):
            if f.name not in own:
                continue
            doc = f.metadata["doc"]
            if "choices" in f.metadata:
                doc += f" ({' | '.join(f.metadata['choices'])})"
            if "forms" in f.metadata:
                doc += f" ({f.metadata['forms']})"
            rows.append((section, PREFIX + f.name.upper(), _shown(f.default), doc))
    return rows


def _shown(default: object) -> str:
    """
    >>> [_shown(v) for v in (None, "", 0.0, 0.25, 3, "f1")]
    ['unset', 'empty', '0', '0.25', '3', 'f1']
    """
    if default is None:
        return "unset"
    if default == "":
        return "empty"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def _read_secret_file(variable: str, path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(
            f"{variable}={path}: cannot read the secret file ({exc.strerror})"
        ) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise SettingsError(f"{SETTINGS_FILE_VARIABLE}={path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{SETTINGS_FILE_VARIABLE}={path}: not valid TOML ({exc})") from None


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "int": int,
    "str": str,
    "str | None": str,
    "Secret | None": Secret,
}


def _parse(name: str, source: str, raw: str, kind: Any, meta: Mapping[str, Any]) -> Any:
    secret = meta.get("secret", False)
    shown = "***" if secret else repr(raw)
    if kind == "int":
        try:
            value: Any = int(raw)
        except ValueError:
            raise SettingsError(f"{source}={shown}: expected a whole number") from None
        low, high = meta.get("minimum"), meta.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise SettingsError(f"{source}={shown}: expected a whole number{_bounds(low, high)}")
        return value
    if kind in ("float", "float | None"):
        return _parse_float(source, shown, raw, meta)
    pattern = meta.get("pattern")
    if pattern is not None:
        if re.fullmatch(pattern, raw.lower()) is None:
            raise SettingsError(f"{source}={shown}: expected {meta['forms']}")
        return raw.lower()
    choices = meta.get("choices")
    if choices is not None:
        value = raw.lower() if meta.get("lowercase") else raw.upper()
        if value not in choices:
            raise SettingsError(f"{source}={shown}: expected one of {', '.join(choices)}")
        return value
    return _PARSERS[kind](raw)


def _parse_float(source: str, shown: str, raw: str, meta: Mapping[str, Any]) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{source}={shown}: expected a number") from None
    low, high = meta.get("minimum"), meta.get("maximum")
    if not math.isfinite(value) or (low is not None and value < low) or (
        high is not None and value > high
    ):
        raise SettingsError(f"{source}={shown}: expected a finite number{_bounds(low, high)}")
    return value


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" within [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    return f" <= {high}" if high is not None else ""
