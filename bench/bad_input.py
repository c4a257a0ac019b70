"""A corpus of bad input, run through the stages that must catch it; prints what each case gave.

Run by hand: ``.venv/bin/python bench/bad_input.py``. Audio faults go through the spectrogram
stage (rejected.csv reasons); table and layout faults through the manifest builders and the
task check. Every case must end in a one-line reason or error that names the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from mirtransfer.datasets import build_manifest, missing_data
from mirtransfer.errors import UserError
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.manifest import check_tasks
from mirtransfer.melspec import MelExtractor

RATE = 12000


class RunsCode:
    """Unpickling this object creates the file it names (as a crafted split file could run anything)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def tone(seconds: float, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def audio_cases(root: Path, outside: Path) -> dict[str, str]:
    """File name (relative to root) -> the case it stands for."""
    cases = {}
    sf.write(root / "good.wav", tone(2.0), RATE)
    cases["good.wav"] = "good (kept)"
    (root / "empty.wav").write_bytes(b"")
    cases["empty.wav"] = "empty file"
    (root / "text.wav").write_text("not audio\n")
    cases["text.wav"] = "text named .wav"
    sf.write(root / "cut.flac", tone(3.0), RATE)
    data = (root / "cut.flac").read_bytes()
    (root / "cut.flac").write_bytes(data[: len(data) // 2])
    cases["cut.flac"] = "truncated FLAC"
    sf.write(root / "cut.wav", tone(3.0), RATE)
    data = (root / "cut.wav").read_bytes()
    (root / "cut.wav").write_bytes(data[: len(data) // 2])
    cases["cut.wav"] = "truncated WAV"
    sf.write(root / "silent.wav", np.zeros(2 * RATE, dtype=np.float32), RATE)
    cases["silent.wav"] = "digital silence"
    sf.write(root / "short.wav", tone(0.3), RATE)
    cases["short.wav"] = "0.3 s clip"
    nan = tone(2.0)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, RATE, subtype="FLOAT")
    cases["nan.wav"] = "NaN sample"
    cases["missing.wav"] = "listed, not on disk"
    (root / "gone.wav").symlink_to(outside / "nowhere.wav")
    cases["gone.wav"] = "broken symbolic link"
    (root / "folder.wav").mkdir()
    cases["folder.wav"] = "folder named .wav"
    sf.write(root / "song.aiff", tone(2.0), RATE, format="AIFF")
    cases["song.aiff"] = "AIFF (kept)"
    sf.write(outside / "elsewhere.wav", tone(2.0), RATE)
    cases["../outside/elsewhere.wav"] = "path leaving the root"
    cases[str(outside / "elsewhere.wav")] = "absolute path"
    (root / "link.wav").symlink_to(outside / "elsewhere.wav")
    cases["link.wav"] = "link inside the root to a file outside (kept)"
    return cases


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bad_input_"))
    root, outside = base / "data", base / "outside"
    root.mkdir()
    outside.mkdir()
    cases = audio_cases(root, outside)
    manifest = pd.DataFrame({"clip_id": [f"c{i:02d}" for i in range(len(cases))], "path": list(cases),
                             "start": None, "end": None})
    result = MelExtractor(FrontEnd(duration=2.0), ExcerptPolicy(min_duration=1.0)).run(manifest, root, base / "mel.parquet")
    reasons = {r["clip_id"]: r["reason"] for r in result.rejected}
    print(f"{len(cases)} audio cases, {len(reasons)} rejected:")
    for clip, (path, case) in zip(manifest["clip_id"], cases.items()):
        print(f"  {case:48s} -> {reasons.get(clip, 'kept')}")

    table_cases = []
    (base / "t1").mkdir()
    (base / "t1" / "t.csv").write_text("path,genre\na.wav,\n")
    table_cases.append(("empty label", {"type": "csv", "root": str(base / "t1"), "table": "t.csv", "columns": {"label": "genre"}}))
    (base / "t2").mkdir()
    (base / "t2" / "t.csv").write_text("path,label\na.wav,x\n")
    table_cases.append(("missing column", {"type": "csv", "root": str(base / "t2"), "table": "t.csv", "columns": {"label": "genre"}}))
    (base / "t3" / "rock").mkdir(parents=True)
    sf.write(base / "t3" / "rock" / "x.wav", tone(1.0), RATE)
    sf.write(base / "t3" / "rock" / "x.flac", tone(1.0), RATE)
    table_cases.append(("one clip in two files", {"type": "folder_per_class", "root": str(base / "t3")}))
    marker = base / "ran"
    (base / "t4" / "0").mkdir(parents=True)
    (base / "t4" / "0" / "a.mp3").write_bytes(b"")
    (base / "t4" / "annotations_final.csv").write_text("clip_id\tguitar\tmp3_path\n1\t1\t0/a.mp3\n")
    np.save(base / "t4" / "train.npy", np.array([RunsCode(marker), "0/a.mp3"], dtype=object), allow_pickle=True)
    for split in ("valid", "test"):
        (base / "t4" / f"{split}.txt").write_text("0/a.mp3\n")
    table_cases.append(("pickled split list", {"type": "magnatagatune", "root": str(base / "t4"),
                                               "split_files": {"train": "train.npy", "valid": "valid.txt", "test": "test.txt"}}))
    print("table and layout cases:")
    for case, spec in table_cases:
        try:
            build_manifest("x", spec)
            print(f"  {case:48s} -> accepted (WRONG)")
        except UserError as err:
            print(f"  {case:48s} -> {err}")
    deep = missing_data("g", {"type": "gtzan_genre", "root": str(root)})
    print(f"  {'GTZAN root one folder off':48s} -> {deep}")
    df = pd.DataFrame({"clip_id": ["a"], "label": ["x"], "fold": [None], "split": [None]})
    for case, task in [("target not a column", {"target": "tempo", "protocol": "kfold"}),
                       ("predefined folds without a fold column", {"target": "label", "protocol": "predefined_folds"})]:
        try:
            check_tasks(df, "x", {"t": task})
            print(f"  {case:48s} -> accepted (WRONG)")
        except UserError as err:
            print(f"  {case:48s} -> {err}")
    print(f"code from the pickled list ran: {marker.exists()}")


if __name__ == "__main__":
    main()
