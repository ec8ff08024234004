"""Records written by Confluent's serializers, read as streamml's JSON envelope.

Confluent's wire format is a zero byte, the writer's schema id in four bytes (big
endian), then the payload: Avro binary, or JSON text that the writer checked against a
JSON Schema. :class:`ConfluentFormat` decodes the payload with its writer's schema and
rewrites it as the JSON envelope, so every check, dead-letter reason and score that
applies to a JSON record applies to it unchanged. The envelope's fields are taken by
name; a record without a ``features`` field has every other field as a feature.

Schemas are written by whoever may register them, so a schema is checked before it is
used: Avro arrays and maps must have items that take at least a byte (otherwise a few
bytes could declare billions of items), and no named type may contain itself (a
recursion as deep as the message is long).
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from contracts.decoding import Rejection
from contracts.exceptions import SettingsError, StreamMLError
from contracts.settings import SharedSettings

MAGIC: Final = 0
HEADER_BYTES: Final = 5
MAX_SCHEMA_CHARACTERS: Final = 1 << 20
REGISTRY_TIMEOUT_SECONDS: Final = 10
UNKNOWN_IDS: Final = 1024
UNKNOWN_FOR_SECONDS: Final = 60.0
_LOOPBACK: Final = ("localhost", "127.0.0.1", "::1")


class Refusal(Exception):
    """Why a record or its schema cannot be read: ``code`` is a reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SchemaUnavailable(StreamMLError):
    """The schema's source could not answer (a registry down): nothing to dead-letter."""


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A schema as registered: its kind (``AVRO``, ``JSON``; others are refused) and text."""

    kind: str
    text: str


class _Reader:
    """Turns one payload into a value, or raises :class:`Refusal`."""

    def __init__(self, schema: WriterSchema) -> None:
        if len(schema.text) > MAX_SCHEMA_CHARACTERS:
            raise Refusal("bad-schema", f"{len(schema.text)} characters; at most "
                          f"{MAX_SCHEMA_CHARACTERS} are read")
        if schema.kind not in ("AVRO", "JSON"):
            raise Refusal("bad-schema", f"a {schema.kind} schema; streamml reads Avro and "
                          "JSON Schema")
        self.read = (_avro_reader if schema.kind == "AVRO" else _json_reader)(schema.text)
        # Only Avro's bytes and fixed (decimals among them) give values JSON has no
        # word for; a schema that names neither needs no look at each value (a few µs).
        self.odd_values = schema.kind == "AVRO" and ('"bytes"' in schema.text
                                                     or '"fixed"' in schema.text)


class ConfluentFormat:
    """Confluent-framed records to JSON envelopes, each schema looked up and checked once.

    >>> schemas = {1: WriterSchema("JSON", '{"type": "object"}')}
    >>> wire = ConfluentFormat(schemas.get)
    >>> wire.envelope(b"\\x00\\x00\\x00\\x00\\x01" + b'{"event_id": "e1", "amount": 2.5}',
    ...               ("event_id", "features"))
    b'{"event_id":"e1","features":{"amount":2.5}}'
    >>> wire.envelope(b'{"event_id": "e1"}', ("event_id",)).code
    'not-schema-framed'
    """

    def __init__(self, lookup: Callable[[int], WriterSchema | None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        # Schemas found, for good: only who may register schemas can add to them.
        self._readers: dict[int, _Reader | Rejection] = {}
        # Ids not found, each until it is asked again after UNKNOWN_FOR_SECONDS (it may
        # be registered since), at most UNKNOWN_IDS of them: any writer of the topic can
        # make up ids, and must not grow this without bound.
        self._unknown: dict[int, tuple[float, Rejection]] = {}

    def envelope(self, raw: bytes, fields: tuple[str, ...]) -> bytes | Rejection:
        """The JSON envelope of ``raw`` with the record's ``fields``, or why it has none.

        Raises :class:`SchemaUnavailable` when the schema's source cannot answer.
        """
        if len(raw) < HEADER_BYTES or raw[0] != MAGIC:
            return Rejection("not-schema-framed",
                             "expected Confluent's wire format (a zero byte and a four-byte "
                             "schema id before the payload), as a Schema Registry "
                             "serializer writes it")
        schema_id = int.from_bytes(raw[1:HEADER_BYTES], "big")
        reader = self._reader(schema_id)
        if isinstance(reader, Rejection):
            return reader
        try:
            value = reader.read(raw[HEADER_BYTES:])
        except Refusal as refusal:
            return Rejection(refusal.code, str(refusal))
        if not isinstance(value, dict):
            return Rejection("not-an-object", f"schema {schema_id} writes a "
                             f"{type(value).__name__}; expected a record (an object)")
        try:
            return msgspec.json.encode(_as_envelope(value, fields, reader.odd_values))
        except Refusal as refusal:
            return Rejection(refusal.code, str(refusal))

    def prepare(self, raws: Iterable[bytes | None]) -> None:
        """Look up every schema ``raws`` name before any of them is decoded, so a source
        that cannot answer raises :class:`SchemaUnavailable` before a batch changed
        anything."""
        ids = {int.from_bytes(raw[1:HEADER_BYTES], "big") for raw in raws
               if raw and len(raw) >= HEADER_BYTES and raw[0] == MAGIC}
        for schema_id in sorted(ids - self._readers.keys()):
            self._reader(schema_id)

    def _reader(self, schema_id: int) -> _Reader | Rejection:
        known = self._readers.get(schema_id)
        if known is not None:
            return known
        now = self._clock()
        unknown = self._unknown.get(schema_id)
        if unknown is not None and now - unknown[0] < UNKNOWN_FOR_SECONDS:
            return unknown[1]
        schema = self._lookup(schema_id)
        if schema is None:
            missing = Rejection("unknown-schema", f"no schema is registered with id {schema_id}")
            self._unknown.pop(schema_id, None)
            if len(self._unknown) >= UNKNOWN_IDS:
                del self._unknown[next(iter(self._unknown))]  # the longest known
            self._unknown[schema_id] = (now, missing)
            return missing
        made: _Reader | Rejection
        try:
            made = _Reader(schema)
        except Refusal as refusal:
            made = Rejection(refusal.code, f"schema {schema_id}: {refusal}")
        self._readers[schema_id] = made
        self._unknown.pop(schema_id, None)
        return made


def _as_envelope(value: dict[str, Any], fields: tuple[str, ...],
                 odd_values: bool) -> dict[str, Any]:
    """``value`` laid out as the JSON envelope (a datetime, from Avro's timestamp types,
    is written by msgspec as RFC 3339); :class:`Refusal` for what JSON cannot say."""
    if "features" in value or "features" not in fields:
        envelope = value
    else:
        envelope = {k: v for k, v in value.items() if k in fields}
        envelope["features"] = {k: v for k, v in value.items() if k not in fields}
    if not odd_values:
        return envelope
    features = envelope.get("features")
    for where, values in (("field", envelope), ("feature", features)):
        if not isinstance(values, dict):
            continue
        for name, v in values.items():
            if isinstance(v, Decimal):  # Avro's decimal: a number, as in JSON
                values[name] = float(v)
            elif isinstance(v, bytes | bytearray):
                # JSON has no bytes; written out they would read as a base64 text.
                raise Refusal("wrong-type", f"{where} `{name}` is bytes; expected a number, "
                              "a text or null")
    return envelope


def _json_reader(text: str) -> Callable[[bytes], object]:
    import jsonschema
    import referencing.exceptions

    try:
        schema = json.loads(text)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except (ValueError, RecursionError, jsonschema.SchemaError) as exc:
        raise Refusal("bad-schema", f"not a usable JSON Schema ({_first_line(exc)})") from None
    # An empty registry: jsonschema would otherwise fetch any http(s) `$ref` a schema
    # names (a deprecated fallback, with no timeout): a registered schema could make
    # every reader call out and hang.
    validator = validator_class(schema, registry=referencing.Registry())
    decode = msgspec.json.decode

    def read(payload: bytes) -> object:
        try:
            value = decode(payload)
        except UnicodeDecodeError as exc:
            raise Refusal("not-utf8", f"the payload is not valid UTF-8 ({exc.reason})") from None
        except msgspec.DecodeError as exc:
            raise Refusal("not-json", f"the payload is not JSON ({exc})") from None
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        except (jsonschema.exceptions.SchemaError, RecursionError,
                referencing.exceptions.Unresolvable) as exc:
            raise Refusal("bad-schema", f"the writer's JSON Schema cannot be applied "
                          f"({_first_line(exc)})") from None
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the record"
            raise Refusal("schema-mismatch",
                          f"{where} does not match the writer's schema: {error.message[:200]}")
        return value

    return read


def _avro_reader(text: str) -> Callable[[bytes], object]:
    import fastavro

    try:
        parsed = fastavro.parse_schema(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
            fastavro.schema.SchemaParseException) as exc:
        raise Refusal("bad-schema", f"not a usable Avro schema ({_first_line(exc)})") from None
    problem = _unbounded(parsed)
    if problem:
        raise Refusal("bad-schema", problem)
    reader = fastavro.schemaless_reader

    def read(payload: bytes) -> object:
        stream = io.BytesIO(payload)
        try:
            value = reader(stream, parsed, None)
        except (EOFError, ValueError, IndexError, TypeError, OverflowError,
                UnicodeDecodeError, MemoryError) as exc:
            raise Refusal("schema-mismatch", "the payload does not decode as its writer's "
                          f"Avro schema ({_first_line(exc)})") from None
        if stream.tell() != len(payload):
            raise Refusal("schema-mismatch", f"{len(payload) - stream.tell()} bytes are "
                          "left after the record its writer's Avro schema describes")
        return value

    return read


def _unbounded(schema: Any) -> str | None:
    """Why ``schema`` (fastavro's parsed form) could make a small payload cost without
    bound to read, or None."""
    named: dict[str, Any] = {}
    _collect_named(schema, named)
    looped = _recursive(schema, named)
    if looped:
        return f"the Avro type `{looped}` contains itself; recursive schemas are refused"
    for node in _nodes(schema):
        if node.get("type") in ("array", "map"):
            items = node["items"] if node["type"] == "array" else node["values"]
            if _may_be_empty(items, named):
                return (f"an Avro {node['type']} whose items may take no bytes; a few bytes "
                        "could then declare billions of them")
    return None


def _collect_named(schema: Any, named: dict[str, Any]) -> None:
    for node in _nodes(schema):
        if node.get("type") in ("record", "error", "enum", "fixed") and "name" in node:
            named[node["name"]] = node


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every type written out in ``schema`` (fastavro writes each named type out once)."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _nodes(branch)
    elif isinstance(schema, dict):
        yield schema
        for child in _children(schema):
            yield from _nodes(child)


def _children(node: Mapping[str, Any]) -> Iterator[Any]:
    kind = node.get("type")
    if kind in ("record", "error"):
        yield from (f["type"] for f in node.get("fields", ()))
    elif kind == "array":
        yield node["items"]
    elif kind == "map":
        yield node["values"]
    elif isinstance(kind, dict | list):
        yield kind


def _recursive(schema: Any, named: Mapping[str, Any]) -> str | None:
    """A named type that contains itself, or None (each name explored once)."""
    done: set[str] = set()

    def visit(node: Any, path: tuple[str, ...]) -> str | None:
        if isinstance(node, str):
            if node in path:
                return node
            if node not in named or node in done:
                return None
            node = named[node]
        if isinstance(node, list):
            return next((r for b in node if (r := visit(b, path))), None)
        name = node.get("name") if node.get("type") in ("record", "error") else None
        if name is not None:
            if name in path:
                return str(name)
            path = (*path, name)
        found = next((r for c in _children(node) if (r := visit(c, path))), None)
        if name is not None and found is None:
            done.add(name)
        return found

    return visit(schema, ())


def _may_be_empty(schema: Any, named: Mapping[str, Any]) -> bool:
    """Whether a value of ``schema`` (not recursive) can be written in zero bytes."""
    if isinstance(schema, str):
        return _may_be_empty(named[schema], named) if schema in named else schema == "null"
    if isinstance(schema, list):  # a union writes its branch's index: a byte at least
        return False
    kind = schema.get("type")
    if kind in ("record", "error"):
        return all(_may_be_empty(f["type"], named) for f in schema.get("fields", ()))
    if kind == "fixed":
        return int(schema.get("size", 0)) == 0
    if isinstance(kind, dict | list) or kind == "null":
        return _may_be_empty(kind, named)
    return False  # arrays and maps write a count, enums an index, primitives a byte or more


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def wire_format(settings: SharedSettings) -> ConfluentFormat | None:
    """The format ``settings`` say applications write in; None for streamml's JSON."""
    if settings.input_format != "confluent":
        return None
    url, directory = settings.schema_registry_url, settings.schema_dir
    if (url is None) == (directory is None):
        raise SettingsError("STREAMML_INPUT_FORMAT=confluent needs where writers' schemas "
                            "are: set STREAMML_SCHEMA_REGISTRY_URL or STREAMML_SCHEMA_DIR "
                            "(one of them)")
    _require("fastavro", "jsonschema")
    if directory is not None:
        return ConfluentFormat(local_schemas(directory))
    return ConfluentFormat(registry_schemas(settings))


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SettingsError(f"STREAMML_INPUT_FORMAT=confluent needs {', '.join(missing)}: "
                            "pip install 'streamml[schemas]'")


_SUFFIXES: Final = ((".avsc", "AVRO"), (".json", "JSON"))


def local_schemas(directory: str) -> Callable[[int], WriterSchema | None]:
    """Schemas from files named by id: ``<id>.avsc`` (Avro) or ``<id>.json`` (JSON Schema)."""
    root = Path(directory)
    if not root.is_dir():
        raise SettingsError(f"STREAMML_SCHEMA_DIR: {directory} is not a directory")

    def schema(schema_id: int) -> WriterSchema | None:
        for suffix, kind in _SUFFIXES:
            path = root / f"{schema_id}{suffix}"
            if path.is_file():
                return WriterSchema(kind, path.read_text(encoding="utf-8", errors="replace"))
        return None

    return schema


def registry_schemas(settings: SharedSettings) -> Callable[[int], WriterSchema | None]:
    """Schemas by id from a Confluent-compatible Schema Registry (its own client, which
    retries); :class:`SchemaUnavailable` when it does not answer."""
    _require("authlib", "httpx2")
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    url = str(settings.schema_registry_url)
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise SettingsError(f"STREAMML_SCHEMA_REGISTRY_URL={url!r}: expected an http(s) URL")
    host = urllib.parse.urlsplit(url).hostname or ""
    if settings.schema_registry_user and scheme == "http" and host not in _LOOPBACK:
        raise SettingsError("STREAMML_SCHEMA_REGISTRY_USER is set with an http:// registry "
                            f"URL: the password would cross the network to {host} in "
                            "clear text; use https://")
    config: dict[str, Any] = {"url": url, "timeout": REGISTRY_TIMEOUT_SECONDS}
    if settings.schema_registry_user:
        password = settings.schema_registry_password
        config["basic.auth.user.info"] = \
            f"{settings.schema_registry_user}:{password.reveal() if password else ''}"
    if settings.schema_registry_ca_location:
        config["ssl.ca.location"] = settings.schema_registry_ca_location
    client = SchemaRegistryClient(config)

    def schema(schema_id: int) -> WriterSchema | None:
        try:
            found = client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise SchemaUnavailable(f"the Schema Registry at {url} refused schema id "
                                    f"{schema_id}: {exc.http_status_code} "
                                    f"{_first_line(exc)}") from None
        except Exception as exc:  # the HTTP client's own errors, after its retries
            raise SchemaUnavailable(f"the Schema Registry at {url} did not answer for "
                                    f"schema id {schema_id} ({_first_line(exc)})") from None
        kind = (found.schema_type or "AVRO").upper()
        return WriterSchema(kind, found.schema_str or "")

    return schema


__all__ = [
    "ConfluentFormat",
    "Refusal",
    "SchemaUnavailable",
    "WriterSchema",
    "local_schemas",
    "registry_schemas",
    "wire_format",
]
