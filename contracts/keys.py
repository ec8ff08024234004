"""The text form of Ed25519 keys in settings: standard base64 of the 32 raw key bytes.

Only the form is checked here (no cryptography): a value that is not base64, not 32
bytes, a placeholder copied from a deploy file, or a single repeated byte is refused
with the variable's name and how to make a real key.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from contracts.exceptions import SettingsError

KEY_BYTES: Final = 32
GENERATE_HINT: Final = "make a key pair with `streamml keys generate`"
# Words the deploy files and examples use where a real key must go.
_PLACEHOLDER: Final = re.compile(r"replace|change|example|placeholder|your", re.IGNORECASE)
_NOT_BASE64: Final = re.compile(r"[^A-Za-z0-9+/=\s]")


def decode_key(text: str, variable: str) -> bytes:
    """The 32 raw bytes of one base64 key, or a :class:`SettingsError` naming ``variable``.

    >>> len(decode_key("oT3E+74jMUj0gW4fqMxkxwcYOmWguEhhWLLninB2tsw=", "V"))
    32
    >>> try:
    ...     decode_key("REPLACE-ME", "V")
    ... except SettingsError as exc:
    ...     print(str(exc)[:44])
    V holds a placeholder from the deploy files,
    """
    if _NOT_BASE64.search(text) and _PLACEHOLDER.search(text):
        raise SettingsError(f"{variable} holds a placeholder from the deploy files, not a key; "
                            f"{GENERATE_HINT}")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{variable} is not base64; expected the {KEY_BYTES} bytes of an "
                            f"Ed25519 key in base64; {GENERATE_HINT}") from None
    if len(raw) != KEY_BYTES:
        raise SettingsError(f"{variable} holds {len(raw)} bytes; an Ed25519 key is "
                            f"{KEY_BYTES} bytes (44 base64 characters); {GENERATE_HINT}")
    if len(set(raw)) == 1:
        raise SettingsError(f"{variable} is one byte repeated, not a generated key; "
                            f"{GENERATE_HINT}")
    return raw


def split_keys(text: str) -> list[str]:
    """Keys listed by commas, spaces or lines (a file of one key a line reads the same).

    >>> split_keys("a, b\\nc")
    ['a', 'b', 'c']
    """
    return [part for part in re.split(r"[\s,]+", text) if part]


__all__ = ["KEY_BYTES", "decode_key", "split_keys"]
