"""A small, deterministic, music-like demo corpus, synthesised from named musical factors.

Each clip is an arpeggio of a major or minor triad played by one instrument timbre
(flute, clarinet, strings or guitar: different harmonic spectra and envelopes) in a
low or high register at some tempo, optionally with drums (kick and hi-hat) and a
voice-like source (a vibrato pulse train through vowel formants). The source task
tags these factors; the target tasks combine the same factors in new ways, as a
real transfer setting would:

- ``tags``   (source, multi-label, csv type): timbre, drums, vocal, slow/fast, low/high, major/minor; train/valid/test split.
- ``genre``  (multi-class, folder_per_class type): style = tempo band x drums (ambient, ballad, chamber, dance).
- ``voice``  (binary, csv type with predefined folds): vocal vs instrumental, 4 folds.
- ``tempo``  (regression, csv type): two targets, tempo (bpm / 200) and pitch (root MIDI note / 127).

Files are WAV and FLAC at 16, 22.05, 32 and 44.1 kHz, so the demo decodes and
resamples as real data does. Every clip is seeded by (seed, dataset, index) alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import lfilter

TIMBRES = ("flute", "clarinet", "strings", "guitar")
TAGS = (*TIMBRES, "drums", "vocal", "slow", "fast", "low", "high", "major", "minor")
STYLES = {("slow", False): "ambient", ("slow", True): "ballad", ("fast", False): "chamber", ("fast", True): "dance"}
FORMATS = (("wav", 16000), ("flac", 22050), ("wav", 44100), ("flac", 32000))
VOWELS = ((800, 1150, 2900), (270, 2300, 3000), (300, 870, 2250))  # /a/, /i/, /u/
DATASETS = ("tags", "genre", "voice", "tempo")


@dataclass(frozen=True)
class Clip:
    """The musical factors of one synthetic clip."""

    timbre: str
    drums: bool
    vocal: bool
    bpm: float
    root: int  # MIDI note of the chord root
    mode: str  # 'major' or 'minor'
    seconds: float

    @property
    def tempo_band(self) -> str:
        return "slow" if self.bpm < 110 else "fast"

    @property
    def register(self) -> str:
        return "low" if self.root < 60 else "high"

    def tags(self) -> list[str]:
        tags = [self.timbre, self.tempo_band, self.register, self.mode]
        return tags + ["drums"] * self.drums + ["vocal"] * self.vocal


def random_clip(rng: np.random.Generator, typical_seconds: float, **fixed: object) -> Clip:
    """Draw a clip's factors, its length within 0.8-1.25 x typical_seconds; ``fixed`` pins some (e.g. bpm=..., drums=True)."""
    band = rng.choice(["slow", "fast"])
    values = {
        "timbre": str(rng.choice(TIMBRES)),
        "drums": bool(rng.random() < 0.5),
        "vocal": bool(rng.random() < 0.4),
        "bpm": float(rng.uniform(60, 95) if band == "slow" else rng.uniform(125, 170)),
        "root": int(rng.integers(36, 48) if rng.random() < 0.5 else rng.integers(72, 84)),
        "mode": str(rng.choice(["major", "minor"])),
        "seconds": float(typical_seconds * rng.uniform(0.8, 1.25)),
    }
    values.update(fixed)
    return Clip(**values)  # type: ignore[arg-type]


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _harmonics(timbre: str, f0: float, sr: int) -> np.ndarray:
    """Harmonic amplitudes of a timbre, cut below Nyquist."""
    k = np.arange(1, 25)
    amps = {
        "flute": np.array([1.0, 0.3, 0.1, 0.03] + [0.0] * 20),
        "clarinet": np.where(k % 2 == 1, 1.0 / k, 0.02 / k),
        "strings": 1.0 / k,
        "guitar": 1.0 / k**1.5,
    }[timbre]
    return np.where(k * f0 < 0.45 * sr, amps, 0.0)


def _note(timbre: str, f0: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    vibrato = 0.006 * np.sin(2 * np.pi * 5.5 * t) if timbre == "strings" else 0.0
    phase = 2 * np.pi * f0 * (t + np.cumsum(np.broadcast_to(vibrato, t.shape)) / sr)
    amps = _harmonics(timbre, f0, sr)
    k = np.nonzero(amps)[0]
    tone = (amps[k, None] * np.sin((k[:, None] + 1) * phase[None, :] + rng.uniform(0, 6.3, (len(k), 1)))).sum(0)
    attack = np.minimum(1.0, t / 0.01)
    if timbre == "guitar":
        env = attack * np.exp(-t / 0.35)
    else:
        env = attack * np.minimum(1.0, (n / sr - t) / 0.05).clip(0, 1)
    if timbre == "flute":
        tone = tone + 0.02 * rng.standard_normal(n)
    return tone * env


def _voice(f0: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    freq = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.0 * t))
    pulse = 2 * ((np.cumsum(freq) / sr) % 1.0) - 1  # sawtooth glottal source
    out = np.zeros(n)
    for fc, bw, gain in zip(VOWELS[rng.integers(len(VOWELS))], (80, 90, 120), (1.0, 0.6, 0.3)):
        if fc < 0.45 * sr:
            r = np.exp(-np.pi * bw / sr)
            out += gain * lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r], pulse)
    env = np.minimum(1.0, t / 0.05) * np.minimum(1.0, (n / sr - t) / 0.05).clip(0, 1)
    return out * env


def _drums(bpm: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    beat = int(sr * 60 / bpm)
    kick_len = min(int(0.2 * sr), n)
    t = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * np.cumsum(45 + 70 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.08)
    hat_len = min(int(0.06 * sr), n)
    for start in range(0, n, beat):
        stop = min(start + kick_len, n)
        out[start:stop] += kick[: stop - start]
        off = start + beat // 2
        if off < n:
            stop = min(off + hat_len, n)
            noise = np.diff(rng.standard_normal(stop - off + 1)) * np.exp(-np.arange(stop - off) / (0.015 * sr))
            out[off:stop] += 0.3 * noise
    return out


def render(clip: Clip, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Synthesise a clip at ``sr`` as float32 with peak 0.8."""
    n = int(clip.seconds * sr)
    chord = (0, 4, 7, 12) if clip.mode == "major" else (0, 3, 7, 12)
    beat = int(sr * 60 / clip.bpm)
    music = np.zeros(n)
    vocal = np.zeros(n)
    for start in range(0, n, beat):
        length = min(beat, n - start)
        note = clip.root + chord[rng.integers(len(chord))]
        music[start : start + length] += _note(clip.timbre, _midi_hz(note), length, sr, rng)
        if clip.vocal:
            sung = 57 + (note - clip.root)  # a voice range above middle C
            vocal[start : start + length] += _voice(_midi_hz(sung), length, sr, rng)
    mix = music / (np.abs(music).max() + 1e-9)
    if clip.drums:
        mix = mix + 0.6 * _drums(clip.bpm, n, sr, rng)
    if clip.vocal:
        mix = mix + 0.8 * vocal / (np.abs(vocal).max() + 1e-9)
    mix = mix + 1e-3 * rng.standard_normal(n)
    return (0.8 * mix / np.abs(mix).max()).astype(np.float32)


def _write(folder: Path, stem: str, index: int, clip: Clip, rng: np.random.Generator) -> str:
    ext, sr = FORMATS[index % len(FORMATS)]
    rel = f"{stem}.{ext}"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(folder / rel, render(clip, sr, rng), sr, subtype="PCM_16")
    return rel


def make_corpus(root: str | Path, *, seed: int, n_source: int, n_target: int, clip_seconds: float) -> None:
    """Write the four demo datasets (see the module docstring) under ``root``.

    Each dataset folder also gets ``factors.csv``: every clip's true factors.
    """
    root = Path(root)

    def rng(dataset: int, index: int) -> np.random.Generator:
        return np.random.default_rng([seed, dataset, index])

    # Source: multi-label tags with a train/valid/test split.
    rows, factors = [], []
    for i in range(n_source):
        g = rng(0, i)
        clip = random_clip(g, clip_seconds)
        path = _write(root / "tags", f"audio/clip{i:04d}", i, clip, g)
        split = "train" if i % 20 < 14 else "valid" if i % 20 < 17 else "test"
        rows.append({"path": path, "tags": ";".join(clip.tags()), "split": split})
        factors.append({"path": path, **asdict(clip)})
    pd.DataFrame(rows).to_csv(root / "tags" / "tags.csv", index=False)
    pd.DataFrame(factors).to_csv(root / "tags" / "factors.csv", index=False)

    # Multi-class: style from tempo band x drums, one folder per class.
    factors = []
    for i in range(n_target):
        g = rng(1, i)
        (band, drums), style = list(STYLES.items())[i % len(STYLES)]
        bpm = float(g.uniform(60, 95) if band == "slow" else g.uniform(125, 170))
        clip = random_clip(g, clip_seconds, bpm=bpm, drums=drums)
        path = _write(root / "genre", f"{style}/{style}.{i:04d}", i, clip, g)
        factors.append({"path": path, "style": style, **asdict(clip)})
    pd.DataFrame(factors).to_csv(root / "genre" / "factors.csv", index=False)

    # Binary with predefined folds: vocal or not, 4 folds.
    rows, factors = [], []
    for i in range(n_target):
        g = rng(2, i)
        clip = random_clip(g, clip_seconds, vocal=bool(i % 2))
        path = _write(root / "voice", f"clips/track{i:04d}", i, clip, g)
        rows.append({"file": path, "vocal": "vocal" if clip.vocal else "instrumental", "fold": (i // 2) % 4 + 1})
        factors.append({"path": path, **asdict(clip)})
    pd.DataFrame(rows).to_csv(root / "voice" / "voice.csv", index=False)
    pd.DataFrame(factors).to_csv(root / "voice" / "factors.csv", index=False)

    # Regression: continuous tempo and pitch register.
    rows, factors = [], []
    for i in range(n_target):
        g = rng(3, i)
        clip = random_clip(g, clip_seconds, bpm=float(g.uniform(60, 180)), root=int(g.integers(36, 84)))
        path = _write(root / "tempo", f"audio/{i:04d}", i, clip, g)
        rows.append({"id": f"t{i:04d}", "path": path, "tempo": clip.bpm / 200, "pitch": clip.root / 127})
        factors.append({"path": path, **asdict(clip)})
    pd.DataFrame(rows).to_csv(root / "tempo" / "tempo.csv", index=False)
    pd.DataFrame(factors).to_csv(root / "tempo" / "factors.csv", index=False)
