"""Decode audio files with soundfile and tell usable clips from bad ones.

Every failure is an :class:`AudioError` whose message is the reason written to a
dataset's ``rejected.csv``, so a researcher can see which file is wrong and why.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# libsndfile logs "data : <declared> (should be <actual>)" for WAV/AU files whose
# header promises more audio than the file holds; it then silently reads less.
_DECLARED_SIZE = re.compile(r"^\s*(?:data|Data Size)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)

# The one list of audio file suffixes the package looks for (datasets, tagging).
SUPPORTED_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aif", ".aiff")


def is_hidden(path: Path, folder: Path) -> bool:
    """Whether a path below ``folder`` is hidden or an archiver's by-product: a name starting
    with '.' (macOS's ``._<name>`` resource forks, ``.DS_Store``) or under ``__MACOSX/``."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts)


def audio_files_below(folder: Path) -> list[Path]:
    """Every entry below ``folder`` whose name ends in an audio suffix (sorted): files, and also
    folders and broken links so named, which the spectrogram stage then rejects with the reason.
    Hidden entries (``._x.mp3`` of a copy made on macOS) are not audio and are skipped."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and not is_hidden(p, folder))


class AudioError(Exception):
    """A clip that cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class DecodeLimits:
    """What makes a decoded clip unusable.

    min_duration: clips shorter than this many seconds are rejected as too short.
    silence_db: clips whose peak is below this level (dBFS) are rejected as silent.
    """

    min_duration: float = 1.0
    silence_db: float = -80.0


def _truncation(info: sf._SoundFileInfo) -> str | None:
    """Return why libsndfile's header log says the file is cut short, or None."""
    log = info.extra_info
    for declared, actual in _DECLARED_SIZE.findall(log):
        if int(actual) < int(declared):
            return f"truncated: header declares {declared} data bytes, file holds {actual}"
    if "lacks an end-of-stream bit" in log:
        return "truncated: last Ogg page lacks its end-of-stream bit"
    return None


def load_mono(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    max_seconds: float | None = None,
    limits: DecodeLimits = DecodeLimits(),
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to a mono float32 waveform and its sample rate.

    start/end (seconds) cut a segment out of a longer file without copying it;
    max_seconds stops decoding early (only the first excerpt is needed).
    Raises AudioError for a missing, empty, undecodable, truncated, silent or
    too-short file.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError("a folder, not an audio file")
    if path.is_symlink() and not path.exists():
        raise AudioError(f"broken symbolic link (to {path.readlink()})")
    if not path.is_file():
        raise AudioError("file not found")
    if path.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        info = sf.info(str(path))
        reason = _truncation(info)
        if reason:
            raise AudioError(reason)
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            first = int(round((start or 0.0) * sr))
            last = f.frames if end is None else min(f.frames, int(round(end * sr)))
            if max_seconds is not None:
                last = min(last, first + int(math.ceil(max_seconds * sr)))
            if f.frames == 0:
                raise AudioError("no audio frames (a header without samples)")
            if first >= f.frames:
                raise AudioError(f"segment starts at {start} s, after the end of the file ({f.frames / sr:.2f} s)")
            if first:
                f.seek(first)
            try:
                data = f.read(max(last - first, 0), dtype="float32", always_2d=True)
            except sf.LibsndfileError as err:
                raise AudioError(f"truncated or corrupt: decoding failed ({err.error_string.strip()})") from err
    except sf.LibsndfileError as err:
        reason = err.error_string.strip() or str(err)
        if "does not exist" in reason:  # libsndfile's words for a format it cannot open (the file exists)
            reason = f"libsndfile cannot read it as {path.suffix.lstrip('.').upper() or 'audio'}"
        raise AudioError(f"not decodable audio ({reason})") from err
    except (RuntimeError, ValueError, TypeError) as err:
        # soundfile raises these for unknown formats and bad headers.
        raise AudioError(f"not decodable audio ({err})") from err
    if len(data) < last - first:
        raise AudioError(f"truncated: expected {last - first} frames, decoded {len(data)}")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    check_waveform(mono, sr, limits)
    return np.ascontiguousarray(mono, dtype=np.float32), sr


def check_waveform(wave: np.ndarray, sr: int, limits: DecodeLimits) -> None:
    """Raise AudioError when a decoded waveform is non-finite, too short or silent."""
    if len(wave) == 0:
        raise AudioError("no samples: the segment is shorter than one sample period (fix its start and end)")
    if not np.isfinite(wave).all():
        raise AudioError("non-finite samples (NaN or inf)")
    seconds = len(wave) / sr
    if seconds < limits.min_duration:
        raise AudioError(
            f"too short: {seconds:.3f} s < min_duration {limits.min_duration} s "
            "(lower excerpts.min_duration in the config to keep it)"
        )
    peak = float(np.abs(wave).max())
    if peak <= 10 ** (limits.silence_db / 20):
        level = "-inf" if peak == 0 else f"{20 * math.log10(peak):.1f}"
        raise AudioError(f"silent: peak {level} dBFS <= silence_db {limits.silence_db} dBFS")
