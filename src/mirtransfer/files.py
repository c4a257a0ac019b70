"""Small file helpers shared by every stage."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import traceback
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mirtransfer.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` only on success.

    An interrupted job therefore never leaves a file that looks complete, and the
    temporaries a killed job left for the same output are removed when it is written again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    # Temporaries of the same output left by a killed job: nothing else writes this output now
    # (Snakemake's lock), so they are stale.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        stale.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _strict(value: Any) -> Any:
    """``value`` with NaN and infinite floats as None: JSON has no such numbers (strict parsers refuse them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_json(data: Any, path: str | Path) -> None:
    """Write strict JSON atomically, keys sorted, for stable diffs; an undefined number (NaN) is null."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_strict(data), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")


@contextlib.contextmanager
def script_logging(log_path: str | Path | None, name: str = "mirtransfer") -> Iterator[logging.Logger]:
    """Log to ``log_path`` (a Snakemake rule's log) and to stderr; log any crash's traceback.

    A UserError ends the script with exit status 1 and its message alone on stderr (the
    traceback goes to the log only), so the user reads the file and the fix, not two tracebacks.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    try:
        yield logger
    except UserError as err:
        # A fault the user can fix: its one-line message alone on stderr, the traceback in the log.
        logger.error("%s", err)
        if log_path:
            handlers[-1].stream.write(traceback.format_exc())
        raise SystemExit(1) from None
    except Exception:
        logger.exception("failed")
        raise
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


def sha256(path: str | Path) -> str:
    """The file's SHA-256 as hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download(url: str, dest: str | Path, expected: str, fix: str, timeout: float = 60) -> None:
    """Fetch ``url`` (http(s) or file) to ``dest`` only if its sha256 is ``expected``; otherwise nothing is written.

    fix: what the user can do about a different file (named in the error: the settings involved).
    """
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f)
        actual = sha256(tmp)
        if actual != expected:
            raise UserError(f"{url}: sha256 {actual} differs from the expected {expected}; the file was not "
                            f"kept: {fix}")
