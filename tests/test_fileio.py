"""Atomic writes: the target appears whole or not at all, and nothing temporary is left behind."""

from __future__ import annotations

import pytest

from blur2blur.fileio import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_folder_appears_whole(tmp_path):
    target = tmp_path / "pairs"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        (tmp / "train").mkdir(parents=True)
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        (tmp / "train").mkdir(parents=True)
    assert (target / "train").is_dir() and [p.name for p in tmp_path.iterdir()] == ["pairs"]
