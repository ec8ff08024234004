"""Save a running monitor's page to a file: its ``/report`` page, which needs nothing else
to be read later (inline styles and charts, no scripts) and does not reload itself."""

from __future__ import annotations

import math
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urljoin

from contracts.exceptions import StreamMLError

TIMEOUT_SECONDS: Final = 10.0
# Far above any page (a few hundred kilobytes for dozens of features and versions), far
# below what a wrong address could stream at us.
MAX_BYTES: Final = 16 * 1024 * 1024


class ExportError(StreamMLError):
    """The page could not be fetched or written; the message says which and why."""


def export_page(monitor_url: str, out: Path, *, token: str | None = None,
                span: tuple[float, float] | None = None) -> int:
    """Fetch the monitor's ``report`` page (of the windows that ended within ``span``,
    epoch seconds, when given) and write it to ``out`` whole or not at all; return its
    size in bytes."""
    if not monitor_url.startswith(("http://", "https://")):
        raise ExportError(f"{monitor_url}: not an http(s) address of the monitor")
    url = urljoin(monitor_url if monitor_url.endswith("/") else monitor_url + "/", "report")
    if span is not None:
        ends = {"since": span[0], "until": span[1]}
        url += "?" + urlencode({k: repr(v) for k, v in ends.items() if math.isfinite(v)})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            body = answer.read(MAX_BYTES + 1)
            kind = answer.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        hint = "; set STREAMML_HTTP_TOKEN to the monitor's token" if exc.code == 401 else ""
        raise ExportError(f"{url} answered {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExportError(f"no monitor answered at {url} within {TIMEOUT_SECONDS:g} s "
                          f"({reason}); start one with `streamml monitor`, or give --url") \
            from None
    if len(body) > MAX_BYTES:
        raise ExportError(f"{url} sent more than {MAX_BYTES:,} bytes; is it the monitor?")
    if kind != "text/html":
        raise ExportError(f"{url} sent {kind}, not the monitor's HTML page")
    _write_whole(out, body)
    return len(body)


def _write_whole(out: Path, body: bytes) -> None:
    """Write beside ``out``, then rename: a reader never sees half a file."""
    folder = out.resolve().parent
    if not folder.is_dir():
        raise ExportError(f"{out.parent}: no such folder")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(body)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = ["ExportError", "export_page"]
