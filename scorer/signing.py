"""Ed25519 signatures on models and registry records.

The trainer and retrainer hold the private key; every other component holds public
keys only, so a scoring pod that is broken into cannot publish a model. A signature
covers the record's canonical bytes: its msgspec JSON with keys sorted and without
the ``signature`` field, ``key_id`` included. The key id is the first 16 hex digits
of the SHA-256 of the raw public key; several public keys may be trusted at once,
which is how keys rotate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from contracts.exceptions import SettingsError
from contracts.keys import decode_key, split_keys
from contracts.records import Alert, Deployment, ModelVersion
from contracts.settings import Secret, SharedSettings
from scorer.exceptions import BadSignature, UnknownSigningKey, UnsignedRecord

PRIVATE_KEY_VARIABLE: Final = "STREAMML_MODEL_PRIVATE_KEY"
PUBLIC_KEYS_VARIABLE: Final = "STREAMML_MODEL_PUBLIC_KEYS"

SignedRecord = ModelVersion | Deployment | Alert
R = TypeVar("R", ModelVersion, Deployment, Alert)


def key_id(public_key: bytes) -> str:
    """First 16 hex digits of the SHA-256 of the 32 raw bytes of a public key.

    >>> key_id(bytes(range(32)))
    '630dcd2966c43366'
    """
    return hashlib.sha256(public_key).hexdigest()[:16]


def canonical_bytes(record: SignedRecord) -> bytes:
    """What a signature covers: the record as JSON, keys sorted, without ``signature``.

    >>> from datetime import UTC, datetime
    >>> d = Deployment(model="m", champion=1, decided_by="me", reason="r",
    ...                decided_at=datetime(2026, 1, 1, tzinfo=UTC), signature="x")
    >>> canonical_bytes(d)[:40]
    b'{"canary":null,"canary_fraction":0.0,"ch'
    """
    # Through JSON rather than to_builtins: embedded JSON (msgspec.Raw) is parsed, so it
    # is sorted as well, and the bytes depend on the content alone.
    fields = msgspec.json.decode(msgspec.json.encode(record))
    fields.pop("signature", None)
    return msgspec.json.encode(fields, order="sorted")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs with one private key; ``key_id`` names its public key.

    >>> signer = Signer.generate()
    >>> signer.key_id in signer.trusted().keys
    True
    """

    private_key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def from_raw(cls, raw: bytes) -> Signer:
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return cls(private, key_id(_raw_public(private.public_key())))

    @classmethod
    def generate(cls) -> Signer:
        """A fresh key pair (tests and the demo; deployments use ``streamml keys generate``)."""
        private = Ed25519PrivateKey.generate()
        return cls(private, key_id(_raw_public(private.public_key())))

    @property
    def public_key(self) -> bytes:
        return _raw_public(self.private_key.public_key())

    def private_text(self) -> str:
        """The private key in the settings' form (base64 of its 32 bytes)."""
        raw = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return base64.b64encode(raw).decode()

    def public_text(self) -> str:
        return base64.b64encode(self.public_key).decode()

    def sign_bytes(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode()

    def sign(self, record: R) -> R:
        """``record`` with this key's id and a signature over its canonical bytes."""
        unsigned = msgspec.structs.replace(record, key_id=self.key_id, signature="")
        return msgspec.structs.replace(unsigned,
                                       signature=self.sign_bytes(canonical_bytes(unsigned)))

    def trusted(self) -> TrustedKeys:
        """The trusted keys holding only this signer's public key."""
        return TrustedKeys.from_raw([self.public_key])


@dataclass(frozen=True, slots=True)
class TrustedKeys:
    """Public keys by key id; a signature by any of them is accepted.

    ``variable`` names the setting that lists them, for the message refusing a key.
    """

    keys: Mapping[str, Ed25519PublicKey]
    variable: str = PUBLIC_KEYS_VARIABLE

    @classmethod
    def from_raw(cls, raws: Iterable[bytes], variable: str = PUBLIC_KEYS_VARIABLE) -> TrustedKeys:
        return cls({key_id(raw): Ed25519PublicKey.from_public_bytes(raw) for raw in raws},
                   variable)

    def verify_bytes(self, data: bytes, signature: str, signed_by: str, what: str) -> None:
        """Return if ``signature`` over ``data`` is by trusted key ``signed_by``, else raise."""
        if not signature:
            raise UnsignedRecord(f"{what} carries no signature; only signed records are used")
        public = self.keys.get(signed_by)
        if public is None:
            raise UnknownSigningKey(
                f"{what} is signed by key {signed_by[:16]!r}, which is not one of the trusted "
                f"keys ({', '.join(sorted(self.keys)) or 'none'}); add its public key to "
                f"{self.variable} if it is yours"
            )
        try:
            public.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, binascii.Error, ValueError):
            raise BadSignature(f"{what}: the signature of key {signed_by} does not match; "
                               "it was changed after signing or forged") from None

    def verify(self, record: R) -> R:
        """``record`` when signed by a trusted key, else a :class:`BadSignature` subclass."""
        self.verify_bytes(canonical_bytes(record), record.signature, record.key_id,
                          what=describe(record))
        return record


def describe(record: SignedRecord) -> str:
    if isinstance(record, ModelVersion):
        return f"version {record.version} of {record.model}"
    if isinstance(record, Alert):
        return f"the {record.kind} alert {record.fingerprint} about {record.model!r}"
    return f"the deployment of {record.model} decided at {record.decided_at.isoformat()}"


def signer_from(settings: SharedSettings) -> Signer:
    """The signer of the settings' private key, or a :class:`SettingsError` saying how to set it."""
    return signer_of(settings.model_private_key, PRIVATE_KEY_VARIABLE,
                     "only the trainer and the retrainer need it")


def trusted_keys(settings: SharedSettings) -> TrustedKeys:
    """The public keys of the settings, with the private key's own; refuse none at all."""
    return trusted_of(settings.model_public_keys, settings.model_private_key,
                      PUBLIC_KEYS_VARIABLE, PRIVATE_KEY_VARIABLE, "model")


def signer_of(secret: Secret | None, variable: str, who: str) -> Signer:
    """The signer of the private key in setting ``variable``; ``who`` needs it, says the error."""
    if secret is None or not secret.reveal():
        raise SettingsError(
            f"no {variable.removeprefix('STREAMML_').split('_')[0].lower()} signing key: set "
            f"{variable} (or {variable}_FILE); {who}; make one with `streamml keys generate`")
    return Signer.from_raw(decode_key(secret.reveal(), variable))


def trusted_of(public: str | None, secret: Secret | None, public_variable: str,
               private_variable: str, kind: str) -> TrustedKeys:
    """The public keys listed in ``public`` and the private key's own; refuse none at all."""
    raws = [decode_key(text, public_variable) for text in split_keys(public or "")]
    if secret is not None:
        raws.append(signer_of(secret, private_variable, "").public_key)
    if not raws:
        raise SettingsError(
            f"no trusted {kind} key: set {public_variable} (or {public_variable}_FILE) or "
            f"{private_variable}, to the key `streamml keys generate` printed")
    return TrustedKeys.from_raw(raws, public_variable)


__all__ = [
    "PRIVATE_KEY_VARIABLE",
    "PUBLIC_KEYS_VARIABLE",
    "Signer",
    "TrustedKeys",
    "canonical_bytes",
    "describe",
    "key_id",
    "signer_from",
    "trusted_keys",
]
