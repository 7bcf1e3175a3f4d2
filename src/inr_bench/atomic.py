"""Files written atomically: readers see the old file or the whole new one, never a part.

Used for every result file (metrics.json, the tables' result files, summaries) and for
checkpoints (checkpoint_io.py), so a run killed at any moment leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

# New result files get the usual permissions (0666 minus the umask); mkstemp alone gives 0600.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers only ever see the old or the whole new file: a
    temporary file beside it (same file system, so the rename is atomic), synced, then renamed.
    A process killed mid-write leaves at most a hidden `.<name>.*.tmp` file beside the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically, as `write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (inf PSNR of a perfect fit becomes null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    return write_text_atomic(path, json.dumps(_finite_or_none(payload), indent=2) + "\n")
