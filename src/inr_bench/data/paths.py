"""Where datasets live, and the clear error when one is missing.

Folder datasets live under the data root: the environment variable INR_BENCH_DATA, or
`./data` (relative to the directory the command was started from) when it is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

from inr_bench.errors import InrBenchError

DATA_ROOT_VARIABLE = "INR_BENCH_DATA"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def data_root() -> Path:
    """The data root: $INR_BENCH_DATA, or ./data."""
    return Path(os.environ.get(DATA_ROOT_VARIABLE, "data")).expanduser()


def _how_to_fix(folder: Path, hint: str | None) -> str:
    lines = [
        f"Put the files in {folder} or point the data root elsewhere: "
        f"`export {DATA_ROOT_VARIABLE}=/path/to/datasets` (it currently is "
        f"{os.environ.get(DATA_ROOT_VARIABLE, 'unset, so ./data is used')}), "
        f"or pass `data.path=/path/to/folder`."
    ]
    if hint:
        lines.append(f"How to get it: {hint}")
    return "\n  ".join(lines)


def list_files(folder: str | os.PathLike, suffixes: tuple[str, ...], hint: str | None = None) -> list[Path]:
    """Sorted files of `folder` with one of `suffixes`; a clear error if there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InrBenchError(f"Dataset folder {folder.resolve()} {what}.\n  {_how_to_fix(folder, hint)}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise InrBenchError(
            f"Dataset folder {folder.resolve()} holds no files ending in {', '.join(suffixes)}.\n  "
            f"{_how_to_fix(folder, hint)}"
        )
    return files


def describe_file_content(path: str | os.PathLike) -> str:
    """A short guess at what a file that failed to decode holds (HTML page, text), or ''."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(512)
    except OSError:
        return ""
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return " It looks like an HTML/XML page (a failed or redirected download?)."
    if head and all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head):
        return " It looks like a text file."
    return ""


def require_media_file(path: str | os.PathLike, kind: str, expected: str, hint: str | None = None) -> Path:
    """A non-empty media file as a Path; a clear error if it is missing, a folder or 0 bytes.
    `kind` ("Audio", "Video") and `expected` (the formats) go into the messages."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InrBenchError(
            f"{kind} path {path.resolve()} is a folder, not a file. Pass the path of one {kind.lower()} "
            f"file ({expected})."
        )
    path = require_file(path, hint)
    if path.stat().st_size == 0:
        raise InrBenchError(
            f"{kind} file {path.resolve()} is empty (0 bytes): the download or copy did not finish. "
            f"Replace it with a complete {expected} file."
        )
    return path


def require_file(path: str | os.PathLike, hint: str | None = None) -> Path:
    """`path` as a Path if it is a file; else a clear error saying where it was looked for."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InrBenchError(f"File {path.resolve()} does not exist.\n  {_how_to_fix(path.parent, hint)}")
    return path
