"""How busy the machine was while a benchmark row ran, from /proc/stat's counters."""

from __future__ import annotations

import math

import pytest

from benchmarks import workload

STAT = ("cpu  {user} 10 {system} {idle} {iowait} 5 5 0 0 0\n"
        "cpu0 1 1 1 1 1 1 1 0 0 0\nintr 12345\n")


def test_idle_and_io_wait_are_not_busy_and_every_other_tick_is() -> None:
    busy, total = workload.ticks_of(STAT.format(user=300, system=100, idle=500, iowait=80))

    assert (busy, total) == (420, 1000)


def test_the_busy_share_is_of_the_ticks_between_two_readings() -> None:
    before = workload.ticks_of(STAT.format(user=300, system=100, idle=500, iowait=80))
    after = workload.ticks_of(STAT.format(user=700, system=200, idle=880, iowait=100))

    assert workload.busy_share(before, after) == pytest.approx(500 / 900)
    assert math.isnan(workload.busy_share(after, after))


def test_this_machine_reads_its_own_busy_work() -> None:
    before = workload.machine_ticks()
    after = before
    while after[1] - before[1] < 20:  # a few clock ticks of this process's own work
        sum(i * i for i in range(20_000))
        after = workload.machine_ticks()

    assert 0.0 < workload.busy_share(before, after) <= 1.0
