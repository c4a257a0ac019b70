"""File helpers: atomic writes and what a killed job leaves behind."""

from __future__ import annotations

import pytest

from mirtransfer.files import atomic_path


def test_atomic_path_removes_a_killed_jobs_temporaries(tmp_path):
    out = tmp_path / "part-000.parquet"
    stale = tmp_path / ".part-000.parquet.tmp-99999"
    other = tmp_path / ".part-001.parquet.tmp-99999"  # another output's: not touched
    stale.write_bytes(b"x" * 1000)
    other.write_bytes(b"y")
    with atomic_path(out) as tmp:
        tmp.write_text("done")
    assert out.read_text() == "done" and not stale.exists() and other.exists()
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert out.read_text() == "done" and sorted(p.name for p in tmp_path.iterdir()) == [other.name, out.name]
