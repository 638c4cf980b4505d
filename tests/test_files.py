"""grader.files: the one atomic writer, and the temporary names the sweeper knows."""
import json

import pytest

from grader import files


def test_atomic_writes(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    files.write_text(target, "first\r\n")
    files.write_text(target, "second ü\n")
    assert target.read_bytes() == "second ü\n".encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    # a failed write leaves the old file untouched and no temporary file behind
    with pytest.raises(ValueError):
        files.write_json(target, {"score": float("nan")})
    with pytest.raises(TypeError):
        files.write_json(target, {"x": object()})
    assert target.read_text(encoding="utf-8") == "second ü\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    target.chmod(0o640)
    files.write_json(target, {"ok": True})
    assert json.loads(target.read_text()) == {"ok": True}
    assert target.stat().st_mode & 0o777 == 0o640          # the mode survives a replace
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_temporary_names_are_recognised_and_nothing_else(tmp_path):
    target = tmp_path / "grades.csv"
    tmp = files.temp_path(target)
    assert tmp.parent == tmp_path and files.is_temp(tmp.name)
    assert files.is_temp(tmp.name + "-journal") and files.is_temp(tmp.name + "-wal")
    for name in ("grades.csv", ".grades.csv", "results.tmp", ".hidden.tmp.txt", "a.b.c.tmp"):
        assert not files.is_temp(name), name


def test_an_interrupted_write_leaves_the_target_absent_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    import os

    def killed(src, dst):
        raise KeyboardInterrupt     # interrupted between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        files.write_json(target, {"a": 1})
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == []      # cleaned up on the way out
