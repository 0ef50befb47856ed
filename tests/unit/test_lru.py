"""The small LRU map of long-running servers: bounded, newest kept, safe under threads."""

from __future__ import annotations

import threading
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.lru import LRU


def test_the_oldest_entry_goes_first_and_a_read_makes_an_entry_the_newest():
    cache = LRU[str, int](2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1
    cache["c"] = 3
    assert cache.keys() == ["a", "c"] and "b" not in cache and len(cache) == 2


def test_get_or_set_makes_a_missing_value_once():
    cache = LRU[str, int](3)
    made = []
    for _ in range(3):
        cache.get_or_set("k", lambda: made.append(1) or 7)
    assert cache.get("k") == 7 and len(made) == 1


def test_find_returns_the_newest_match():
    cache = LRU[int, str](4)
    for i, v in enumerate(["x1", "y", "x2"]):
        cache[i] = v
    assert cache.find(lambda v: v.startswith("x")) == "x2"
    assert cache.find(lambda v: v == "z") is None


def test_an_empty_cache_is_refused():
    with pytest.raises(ValueError, match="at least one entry"):
        LRU[str, int](0)


@given(st.integers(1, 5), st.lists(st.tuples(st.booleans(), st.integers(0, 8)), max_size=60))
def test_it_behaves_like_a_brute_force_lru(maxsize, operations):
    cache, reference = LRU[int, int](maxsize), OrderedDict[int, int]()
    for write, key in operations:
        if write:
            cache[key] = key * 10
            reference[key] = key * 10
            reference.move_to_end(key)
            while len(reference) > maxsize:
                reference.popitem(last=False)
        else:
            assert cache.get(key) == reference.get(key)
            if key in reference:
                reference.move_to_end(key)
        assert cache.keys() == list(reference)


def test_threads_never_grow_it_past_its_size():
    cache = LRU[int, int](8)

    def work(offset):
        for i in range(2_000):
            cache[(offset + i) % 50] = i
            cache.get(i % 50)

    threads = [threading.Thread(target=work, args=(k * 7,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 8 and len(set(cache.keys())) == 8
