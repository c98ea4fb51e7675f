"""engine/memo.py: results by the content of their inputs, bounded, least recent out."""

from __future__ import annotations

import numpy as np

from engine.memo import Memo, content_key


def test_keys_follow_content_dtype_and_shape() -> None:
    a = np.arange(6, dtype=np.int32)
    assert content_key(a, 1) == content_key(a.copy(), 1)
    assert content_key(a, 1) != content_key(a, 2)
    assert content_key(a) != content_key(a.astype(np.int64))  # same numbers, other bytes
    assert content_key(a) != content_key(a.reshape(2, 3))  # same bytes, other shape
    assert content_key(a[::2]) == content_key(np.array([0, 2, 4], np.int32))  # a strided view
    # parts do not run together
    assert content_key("ab", "c") != content_key("a", "bc")


def test_a_result_is_made_once_and_the_least_recent_goes_first() -> None:
    memo = Memo(2)
    made: list[str] = []

    def make(name: str):
        return lambda: made.append(name) or name.upper()

    assert memo.get(b"a", make("a")) == "A"
    assert memo.get(b"a", make("a")) == "A"
    assert memo.get(b"b", make("b")) == "B"
    assert memo.get(b"a", make("a")) == "A"  # a is now the most recent
    assert memo.get(b"c", make("c")) == "C"  # b goes
    assert memo.get(b"a", make("a")) == "A"
    assert memo.get(b"b", make("b")) == "B"
    assert made == ["a", "b", "c", "b"]
    assert (memo.hits, memo.misses) == (3, 4)
