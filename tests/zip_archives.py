"""Zip archives built by hand, for artifacts that the artifact writer would never make."""

from __future__ import annotations

import io
import zipfile


def container(entries: dict[str, bytes], *, level: int | None = None) -> bytes:
    """A deflated zip holding ``entries`` (name to bytes), at compression ``level``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, payload in entries.items():
            z.writestr(name, payload)
    return buffer.getvalue()
