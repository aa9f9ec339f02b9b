"""The worker's collector settings (monitor/worker/heap.py)."""

from __future__ import annotations

import gc

import pytest

from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.worker import heap


@pytest.fixture
def collector():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_sets_the_young_threshold(collector):
    heap.tune(12_345)
    assert gc.get_threshold() == (12_345, *heap.OLDER)


def test_zero_leaves_cpythons_collector_alone(collector):
    gc.set_threshold(700, 10, 10)
    heap.tune(0)
    heap.settle(0)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_settle_freezes_what_is_alive_and_cycles_made_later_are_still_collected(collector):
    heap.settle(50_000)
    assert gc.get_freeze_count() > 0

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2  # the cycle made after the freeze


def test_the_setting_defaults_on_and_refuses_a_negative():
    assert Settings().gc_young == 50_000
    with pytest.raises(ConfigError, match="TABMON_GC_YOUNG"):
        Settings.from_env({"TABMON_GC_YOUNG": "-1"})
