"""One typed, frozen settings object, read from ``STREAMML_*`` variables and an optional file.

Every field's variable is ``STREAMML_`` plus its name in capitals; the bootstrap
servers are also read from the usual ``KAFKA_BOOTSTRAP_SERVERS``. A TOML file named by
``STREAMML_SETTINGS_FILE`` may hold the same names in lower case; variables win over
the file. Tests build settings from a mapping, never from the process environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from contracts.exceptions import SettingsError

PREFIX: Final = "STREAMML_"
SETTINGS_FILE_VARIABLE: Final = "STREAMML_SETTINGS_FILE"

SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


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


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a streamml process can be told, with defaults that work on a laptop.

    >>> s = Settings.from_mapping({"STREAMML_PARTITIONS": "6", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"})
    >>> s.partitions, s.bootstrap_servers, s.web_host
    (6, 'k:9092', '127.0.0.1')
    """

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
    web_host: str = _setting("127.0.0.1", "address the HTTP servers bind to")
    scoring_port: int = _setting(6066, "HTTP port of the scoring processor", minimum=1)
    joiner_port: int = _setting(6067, "HTTP port of the label joiner", minimum=1)
    monitor_port: int = _setting(6068, "HTTP port of the monitor", minimum=1)
    model_name: str = _setting("conversion", "name of the served model")
    model_signing_key: Secret | None = _setting(
        None, "key of the HMAC-SHA256 signature on model artifacts", secret=True
    )
    log_level: str = _setting("INFO", "log level", choices=LOG_LEVELS)

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
            if raw is not None:
                values[f.name] = _parse(f.name, source, raw.strip(), f.type, f.metadata)
        settings = cls(**values)
        settings._check_consistency()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def _check_consistency(self) -> None:
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


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for docs and ``--help``."""
    rows = []
    for f in fields(Settings):
        default = "(unset)" if f.default is None else repr(f.default)
        doc = f.metadata["doc"]
        if "choices" in f.metadata:
            doc += f" ({' | '.join(f.metadata['choices'])})"
        rows.append((PREFIX + f.name.upper(), default, doc))
    return rows


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
        minimum = meta.get("minimum")
        if minimum is not None and value < minimum:
            raise SettingsError(f"{source}={shown}: expected a whole number >= {minimum}")
        return value
    choices = meta.get("choices")
    if choices is not None:
        value = raw.upper()
        if value not in choices:
            raise SettingsError(f"{source}={shown}: expected one of {', '.join(choices)}")
        return value
    return _PARSERS[kind](raw)
