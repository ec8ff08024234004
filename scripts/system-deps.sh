#!/usr/bin/env bash
# Installs the system programs the tests use (Java 17, Maven, kcat, Prometheus and promtool,
# Alertmanager, headless Chromium for the monitor's ops page) when they are
# missing, through apt-get when run as root on Debian or Ubuntu; otherwise says what
# to install. Python packages come from pyproject.toml, never from here.
set -euo pipefail

declare -A package_of=(
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [kcat]=kcat
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [chromium]=chromium
)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(java mvn kcat promtool prometheus prometheus-alertmanager chromium)

missing=()
for cmd in "${wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing programs: please install ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
