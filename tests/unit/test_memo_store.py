"""engine/memo_store.py: a memo's results on disk, read back equal by the next process, never
unpickled, and never in the way (a damaged value is a miss; a disk that cannot be written
turns the store off, not the renderer)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from engine.memo import Memo
from engine.memo_store import DiskStore, decode, encode, source_salt

SALT = b"salt"


def _value() -> tuple:
    # the shapes the renderer keeps: (list of arrays, list of arrays or None); (bool,
    # array); tuples of arrays of several dtypes, some empty
    return (
        [np.arange(6, dtype=np.float64).reshape(3, 2), np.zeros((0, 2))],
        [np.array([[1, 2], [3, 4]], np.int32), None],
        (np.bool_(True), np.array([True, False]), np.float32(0.5)),
        (3, 2.5, "cut", False, None),
        np.array(7, np.int64),  # 0-d
    )


def _same(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def test_values_come_back_equal_with_their_dtypes_and_read_only() -> None:
    value = _value()
    back = decode(encode(value))
    _same(value, back)
    arrays = [back[0][0], back[0][1], back[1][0], back[2][1], back[4]]
    assert all(not a.flags.writeable for a in arrays)  # memoised pieces are shared
    assert all(a.flags.aligned for a in arrays)  # numba refuses unaligned arrays


def test_what_cannot_be_stored_is_refused_on_the_way_in() -> None:
    with pytest.raises(TypeError, match="object"):
        encode((np.array([object()]),))
    with pytest.raises(TypeError, match="dict"):
        encode({"a": 1})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no layout at all",
        b"{not json\x00",
        b'{"x":1}\x00',  # an unknown node
        b'{"a":{"d":"|O","s":[1],"o":0}}\x00' + bytes(8),  # objects: would unpickle
        b'{"a":{"d":"<f8","s":[4],"o":0}}\x00' + bytes(8),  # past its bytes
        b'{"a":{"d":"<f8","s":[-1],"o":0}}\x00' + bytes(8),
        b'{"a":{"d":"<f8","s":[1],"o":-8}}\x00' + bytes(8),
        b'{"a":{"d":"<f8","s":[1]}}\x00' + bytes(8),  # no offset
    ],
)
def test_bytes_that_are_not_a_stored_value_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a stored value"):
        decode(data)


def test_a_second_process_reads_what_the_first_made(tmp_path: Path) -> None:
    path = tmp_path / "memo"
    made: list[str] = []

    def make(name: str):
        return lambda: made.append(name) or (np.full(3, len(made)), name)

    first = Memo(16, store=DiskStore(path, SALT))
    a = first.get(b"a", make("a"))
    first.get(b"b", make("b"))
    first.flush()
    second = Memo(16, store=DiskStore(path, SALT))  # a new process: nothing in memory
    _same(second.get(b"a", make("a")), a)
    assert made == ["a", "b"] and second.misses == 0 and second.store.loads == 1
    # other code (another salt) never reads those values
    third = Memo(16, store=DiskStore(path, b"other code"))
    third.get(b"a", make("a"))
    assert made == ["a", "b", "a"] and third.misses == 1


def test_the_salt_follows_the_code(tmp_path: Path) -> None:
    code = tmp_path / "hulls.py"
    code.write_text("A = 1\n")
    before = source_salt(code)
    assert source_salt(code) == before
    code.write_text("A = 2\n")
    assert source_salt(code) != before


def _only_file(root: Path) -> Path:
    (file,) = [p for p in root.iterdir() if not p.name.startswith(".")]
    return file


def test_a_damaged_value_is_made_again_and_written_over(tmp_path: Path) -> None:
    root = tmp_path / "memo"
    store = DiskStore(root, SALT)
    store.save(b"k", (np.arange(4),))
    store.close()
    _only_file(root).write_bytes(b'{"a":{"d":"<i8","s":[99],"o":0}}\x00')  # cut short
    memo = Memo(4, store=DiskStore(root, SALT))
    assert memo.store.load(b"k") is None
    got = memo.get(b"k", lambda: (np.arange(5),))
    assert memo.misses == 1 and len(got[0]) == 5
    memo.flush()
    assert len(DiskStore(root, SALT).load(b"k")[0][0]) == 5
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_disk_that_cannot_be_written_turns_the_store_off_not_the_memo(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    store = DiskStore(blocker / "cache", SALT)  # under a file: no directory can be made
    memo = Memo(4, store=store)
    with caplog.at_level(logging.WARNING, "engine.memo_store"):
        assert memo.get(b"k", lambda: 41 + 1) == 42
        memo.flush()
        assert memo.get(b"j", lambda: 7) == 7
        memo.flush()
    assert memo.misses == 2
    warnings = [r for r in caplog.records if "is off for this process" in r.getMessage()]
    assert len(warnings) == 1


def test_a_value_from_a_newer_layout_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "memo"
    store = DiskStore(root, SALT)
    store.save(b"k", 1)
    store.close()
    _only_file(root).write_bytes(json.dumps({"z": 1}).encode() + b"\x00")
    assert DiskStore(root, SALT).load(b"k") is None


def test_a_value_half_written_by_a_killed_writer_is_never_read_and_goes_later(
    tmp_path: Path,
) -> None:
    import os

    root = tmp_path / "memo"
    store = DiskStore(root, SALT)
    store.save(b"k", 1)
    store.close()
    name = _only_file(root).name
    _only_file(root).unlink()
    fresh, stale = root / f".{name}.1.2.tmp", root / f".{name}.3.4.tmp"
    for part in (fresh, stale):
        part.write_bytes(b'{"v":')  # cut off mid-write: never renamed into place
    os.utime(stale, (1e9, 1e9))
    again = DiskStore(root, SALT)
    assert again.load(b"k") is None  # not under its name, so not read
    assert fresh.exists() and not stale.exists()  # a writer may still finish the fresh one


def test_the_directory_is_pruned_to_its_bound_oldest_first(tmp_path: Path) -> None:
    import os

    root = tmp_path / "memo"
    store = DiskStore(root, SALT, max_entries=1000)  # written by a process with more room
    for i in range(25):
        store.save(str(i).encode(), i)
    store.close()
    for i in range(25):  # written a second apart, in order
        os.utime(root / store._name(str(i).encode()), (1e9 + i, 1e9 + i))
    again = DiskStore(root, SALT, max_entries=10)
    kept = [i for i in range(25) if again.load(str(i).encode()) is not None]  # pruned first
    assert kept == list(range(17, 25))  # four fifths of the bound, the newest


def test_a_long_lived_process_keeps_the_directory_within_its_bound(tmp_path: Path) -> None:
    root = tmp_path / "memo"
    store = DiskStore(root, SALT, max_entries=10)
    for i in range(100):  # a server wearing look after look, never restarted
        store.save(str(i).encode(), i)
        store.flush()
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) <= 10
    assert store.load(b"99") == (99,)


def test_a_folder_someone_put_in_the_directory_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "memo"
    (root / "notes").mkdir(parents=True)
    store = DiskStore(root, SALT, max_entries=2)
    for i in range(12):  # prunes several times, counting files only
        store.save(str(i).encode(), i)
        store.flush()
    assert (root / "notes").is_dir()
    assert store.load(b"11") == (11,)  # still on: the folder did not turn it off
