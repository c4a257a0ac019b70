"""File helpers: atomic writes and what a killed job leaves behind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mirtransfer.files import atomic_path, write_json


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


def test_write_json_writes_undefined_numbers_as_null(tmp_path):
    write_json({"fold_std": float("nan"), "ci95": [np.float64("nan"), 0.5], "p": float("inf"), "n": 3}, tmp_path / "c.json")
    text = (tmp_path / "c.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"fold_std": None, "ci95": [None, 0.5], "p": None, "n": 3}
