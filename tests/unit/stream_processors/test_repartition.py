"""Where the joiner sends a record: murmur2's partition, with a cache that keys written
on purpose cannot grow."""

from __future__ import annotations

from stream_processors import repartition
from stream_processors.repartition import CACHED_KEY_BYTES, home_partition, murmur2


def test_a_long_key_gets_its_home_without_being_kept() -> None:
    cached = repartition._cached_murmur2
    cached.cache_clear()
    long_keys = [bytes([i % 256]) * (CACHED_KEY_BYTES + 1 + i) for i in range(50)]

    homes = [home_partition(key, 7, 0) for key in long_keys]

    assert homes == [murmur2(key) % 7 for key in long_keys]
    assert cached.cache_info().currsize == 0


def test_a_short_key_is_hashed_once_for_its_event_prediction_and_label() -> None:
    cached = repartition._cached_murmur2
    cached.cache_clear()

    homes = {home_partition(b"u000788", 3, 0) for _ in range(3)}

    assert homes == {murmur2(b"u000788") % 3}
    assert cached.cache_info().hits == 2
