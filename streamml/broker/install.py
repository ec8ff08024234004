"""Fetch the official Apache Kafka broker jars once, with Maven, into a cache folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from contracts.exceptions import StreamMLError

KAFKA_VERSION = "4.1.1"
MIN_JAVA = 17
# Pinned: an unpinned plugin is whatever version the local Maven resolves.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class BrokerSetupError(StreamMLError):
    """Java, Maven or the broker jars are missing and cannot be had."""


def cache_root() -> Path:
    """Where jars and broker data live unless told otherwise (``STREAMML_HOME``)."""
    base = os.environ.get("STREAMML_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "streamml"
    )
    return Path(base)


def java_command() -> str:
    """The ``java`` of JAVA_HOME or PATH, checked to be version 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerSetupError(
            "Java 17 or newer is needed to run the local Kafka broker: "
            "install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [java, "-version"], capture_output=True, text=True, check=False
    )
    match = re.search(r'version "(\d+)', result.stderr)
    if not match or int(match.group(1)) < MIN_JAVA:
        raise BrokerSetupError(
            f"the local Kafka broker needs Java {MIN_JAVA} or newer; {java} is "
            f"{match.group(1) if match else 'of unknown version'}"
        )
    return java


def broker_classpath(version: str = KAFKA_VERSION) -> Path:
    """The folder of broker jars, fetched from Maven Central on first use."""
    lib = cache_root() / f"kafka-{version}" / "lib"
    if (lib / f"kafka_2.13-{version}.jar").exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerSetupError(
            "Maven is needed once to fetch the Kafka broker jars: "
            "install it (Debian/Ubuntu: apt-get install maven)"
        )
    staging = lib.with_name("lib.partial")
    shutil.rmtree(staging, ignore_errors=True)
    pom = resources.files("streamml.broker") / "pom.xml"
    with resources.as_file(pom) as pom_path:
        result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [
                mvn,
                "-q",
                "-B",
                # A jar whose checksum does not match Maven Central's fails the fetch.
                "--strict-checksums",
                "-f",
                str(pom_path),
                f"-Dkafka.version={version}",
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BrokerSetupError(f"Maven could not fetch Kafka {version}:\n{tail}")
    # The rename makes the cache all-or-nothing: an interrupted fetch leaves no half folder.
    staging.rename(lib)
    return lib


__all__ = [
    "BrokerSetupError", "DEPENDENCY_PLUGIN", "KAFKA_VERSION", "MIN_JAVA", "broker_classpath",
    "cache_root", "java_command",
]
