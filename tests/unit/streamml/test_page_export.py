"""`streamml monitor report`: the monitor's page saved whole, or a one-line reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.web import WebServer
from streamml.broker.single_node import free_port
from streamml.cli.main import main
from streamml.cli.page_export import ExportError, export_page

TOKEN = "s3cret"  # noqa: S105 - a test token
PAGE = b"<!doctype html><html><body><h1>streamml monitor: conversion</h1></body></html>"


@pytest.fixture
def monitor() -> Iterator[str]:
    server = WebServer("127.0.0.1", 0, {
        "/report": lambda: (200, "text/html; charset=utf-8", PAGE),
    }, token=TOKEN)
    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        server.close()


def test_the_report_is_written_whole_with_the_token(monitor: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report.html"
    monkeypatch.setenv("STREAMML_HTTP_TOKEN", TOKEN)

    assert main(["monitor", "report", "--out", str(out), "--url", monitor]) == 0
    assert out.read_bytes() == PAGE
    assert f"wrote {out} ({len(PAGE)} bytes)" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_without_the_token_it_says_so_and_writes_nothing(monitor: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(ExportError, match="401 .*set STREAMML_HTTP_TOKEN"):
        export_page(monitor, out)
    assert not out.exists()


def test_no_monitor_is_one_line_and_exit_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"

    assert main(["monitor", "report", "--out", str(tmp_path / "r.html"), "--url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no monitor answered at" in err
    assert list(tmp_path.iterdir()) == []


def test_what_is_not_the_monitor_page_is_refused(tmp_path: Path) -> None:
    server = WebServer("127.0.0.1", 0, {"/report": lambda: (200, "application/json", b"{}")})
    try:
        with pytest.raises(ExportError, match="not the monitor's HTML page"):
            export_page(f"http://127.0.0.1:{server.port}", tmp_path / "r.html")
        with pytest.raises(ExportError, match="not an http"):
            export_page("file:///etc/passwd", tmp_path / "r.html")
    finally:
        server.close()
    assert list(tmp_path.iterdir()) == []


def test_a_time_range_is_sent_as_epoch_seconds_and_a_bad_one_stops_before_asking(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[dict[str, str]] = []

    def report(query: object) -> tuple[int, str, bytes]:
        asked.append(dict(query))  # type: ignore[call-overload]
        return 200, "text/html; charset=utf-8", PAGE

    server = WebServer("127.0.0.1", 0, {}, queried={"/report": report})
    url = f"http://127.0.0.1:{server.port}/"
    try:
        out = tmp_path / "r.html"
        assert main(["monitor", "report", "--out", str(out), "--url", url,
                     "--since", "2026-03-01T00:00:00Z", "--until", "1772330400"]) == 0
        assert asked == [{"since": "1772323200.0", "until": "1772330400.0"}]
        assert main(["monitor", "report", "--out", str(out), "--url", url,
                     "--since", "yesterday-ish"]) == 2
        assert main(["monitor", "report", "--out", str(out), "--url", url,
                     "--since", "1h", "--until", "2h"]) == 2
    finally:
        server.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "'yesterday-ish' is not a time" in err[0]
    assert "the range ends" in err[1] and "before it starts" in err[1]
    assert len(asked) == 1  # the bad ranges never reached the monitor
