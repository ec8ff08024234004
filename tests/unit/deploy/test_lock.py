"""The dependency locks: made from pyproject.toml's ranges, every pin hashed, and what
make setup, the image and the broker fetch install from."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from streamml.broker import install

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DECLARED = [Requirement(r) for r in PROJECT["project"]["dependencies"]]
TEST_ONLY = [Requirement(r) for r in PROJECT["project"]["optional-dependencies"]["test"]]
LOCKS = {"requirements.lock": DECLARED + TEST_ONLY, "requirements-runtime.lock": DECLARED}


def pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every package pinned in ``lock``."""
    text = (ROOT / lock).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)(.*)", line)
        if match:
            found[canonicalize_name(match[1])] = (match[2], re.findall(r"--hash=sha256:(\w{64})",
                                                                       match[3]))
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_pins_every_declared_dependency_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    for requirement in LOCKS[lock]:
        version, _ = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {requirement.name}=={version}, outside pyproject.toml's "
            f"{requirement.specifier}; run make lock")
    build = Requirement(PROJECT["build-system"]["requires"][0])
    assert build.specifier.contains(pinned[canonicalize_name(build.name)][0])


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_hashes_and_says_how_it_was_made(lock: str) -> None:
    text = (ROOT / lock).read_text()
    assert "#    make lock" in text.splitlines()[1]
    for name, (version, hashes) in pins(lock).items():
        assert hashes, f"{lock}: {name}=={version} has no hash"


def test_the_image_lock_is_the_setup_lock_without_the_test_tools() -> None:
    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert {n: v for n, (v, _) in runtime.items()} == {n: full[n][0] for n in runtime}
    assert not {canonicalize_name(r.name) for r in TEST_ONLY} & set(runtime)


def test_setup_and_the_image_install_only_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^\$\(VENV\)/\.installed: (.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "requirements.lock" in target[1].split()
    installs = [line for line in target[2].splitlines() if "pip install" in line]
    assert installs == ["\t$(BIN)/pip install --quiet --require-hashes -r requirements.lock",
                        "\t$(BIN)/pip install --quiet --no-deps --no-build-isolation -e ."]
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in (line for line in dockerfile.splitlines() if "pip " in line):
        for command in line.split("&&"):
            if "pip install" in command:
                assert "--require-hashes -r" in command or "--no-deps" in command, command


def test_the_broker_jars_are_fetched_with_strict_checksums_and_a_pinned_plugin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Maven is not run: the command it would get is recorded."""
    seen: list[list[str]] = []

    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "stopped here")

    monkeypatch.setenv("STREAMML_HOME", str(tmp_path))
    monkeypatch.setattr(install.shutil, "which", lambda name: "/usr/bin/mvn")
    monkeypatch.setattr(install.subprocess, "run", run)
    with pytest.raises(install.BrokerSetupError, match="stopped here"):
        install.broker_classpath()

    (argv,) = seen
    assert "--strict-checksums" in argv
    goal = next(a for a in argv if a.endswith(":copy-dependencies"))
    assert re.fullmatch(r"org\.apache\.maven\.plugins:maven-dependency-plugin:\d+\.\d+\.\d+"
                        r":copy-dependencies", goal)
