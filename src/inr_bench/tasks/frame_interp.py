"""Video frame interpolation (paper A.7, A.9.8): fit every other frame, predict the frames in
between, score them against the true frames, beside the average of the two neighbouring frames.

Bookkeeping: frame t of the clip sits at time coordinate linspace(-1, 1, T)[t]. The network trains
on frames 0, 2, 4, ... at their own times (`CoordinateDataModule.keep_subgrid`); the held-out
frames are the odd ones with a training frame on both sides (1, 3, ..., up to T - 2: with an even
T the last frame would be extrapolation, so it is left out), queried at their own times. The
run's "evals" score the training frames only.

The paper trained on all frames and showed the in-between frames at twice the rate without a
score; here the in-between frames are real frames, so they can be scored. The clip is also
rendered at twice its frame rate (2T - 1 frames: each original frame and the midpoints) as
`frame_interp_2x.mp4`.

Metrics per set: MSE, PSNR and SSIM over the held-out frames (SSIM: mean of 2-D SSIM per frame),
rho_AG as the mean of each frame's 2-D rho_AG, and the PSNR of each held-out frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inr_bench.errors import InrBenchError
from inr_bench.metrics import psnr, rho_ag
from inr_bench.tasks.base import DownstreamTask, score


def held_out_frames(num_frames: int) -> np.ndarray:
    """Odd frames with a training (even) frame on each side."""
    return np.arange(1, num_frames - 1, 2)


def average_of_neighbours(frames: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(frames[t - 1] + frames[t + 1]) / 2 for each t in `index`."""
    return 0.5 * (frames[index - 1] + frames[index + 1])


class FrameInterpolation(DownstreamTask):
    """Train on every other frame; score the frames in between; render at twice the rate."""

    def __init__(
        self, name: str = "frame_interp", chunk_size: int | None = 65536, save_outputs: bool = True
    ) -> None:
        self.name, self.chunk_size, self.save_outputs = name, chunk_size, save_outputs
        self.fps: float | None = None

    def prepare(self, datamodule) -> None:
        if getattr(datamodule, "kind", None) != "video":
            raise InrBenchError("task=frame_interp needs a video dataset (data=bikes, ...).")
        if datamodule.signal_shape[0] < 3:
            raise InrBenchError(
                f"task=frame_interp needs at least 3 frames (train on 0 and 2, predict 1); the clip has "
                f"{datamodule.signal_shape[0]}. Raise data.num_frames."
            )
        self.fps = getattr(datamodule, "fps", None)
        datamodule.keep_subgrid(axis=0, stride=2)
        if self.fps:  # the training frames' own rate, for the fit's reconstruction.mp4
            datamodule.fps = self.fps / 2

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> dict:
        shape = tuple(datamodule.full_signal_shape)
        frames = datamodule.full_values.reshape(*shape, -1).numpy()
        coords = datamodule.full_coords.reshape(shape[0], -1, datamodule.full_coords.shape[-1])
        index = held_out_frames(shape[0])
        held_shape = (index.shape[0], *shape[1:])
        target = torch.from_numpy(frames[index].reshape(-1, frames.shape[-1]))
        predictions = {
            "inr": module.predict_points(
                coords[torch.from_numpy(index)].reshape(-1, coords.shape[-1]), self.chunk_size
            ),
            "average_of_neighbours": torch.from_numpy(
                average_of_neighbours(frames, index).reshape(-1, frames.shape[-1])
            ),
        }
        record = {
            "name": self.name,
            "frames": shape[0],
            "training_frames": list(range(0, shape[0], 2)),
            "held_out_frames": index.tolist(),
            "baselines": {"average_of_neighbours": "(frame[t-1] + frame[t+1]) / 2"},
            "held_out": {},
        }
        for key, pred in predictions.items():
            metrics = score(pred, target, held_shape, datamodule.data_range, rho_variant)
            pred_frames, true_frames = pred.reshape(*held_shape, -1), target.reshape(*held_shape, -1)
            metrics["rho_ag"] = float(rho_ag(pred_frames, true_frames, 2, rho_variant).mean())
            per_frame = ((pred_frames.double() - true_frames.double()) ** 2).flatten(1).mean(1)
            metrics["per_frame_psnr"] = [psnr(float(m), datamodule.data_range) for m in per_frame]
            record["held_out"][key] = metrics
        if self.save_outputs:
            held = {key: pred.reshape(*held_shape, -1).numpy() for key, pred in predictions.items()}
            record["figure"] = str(
                save_frame_figure(frames, index, held, record, Path(out_dir) / "frame_interp.png")
            )
            record["video_2x"] = str(
                self.render_double_rate(module, datamodule, Path(out_dir) / "frame_interp_2x.mp4")
            )
        return record

    def render_double_rate(self, module, datamodule, path: Path) -> Path:
        """The clip at twice its frame rate: times linspace(-1, 1, 2T - 1), frame by frame."""
        from inr_bench.data.video_io import write_video

        shape = tuple(datamodule.full_signal_shape)
        spatial = datamodule.full_coords.reshape(shape[0], -1, datamodule.full_coords.shape[-1])[0, :, 1:]
        times = torch.linspace(-1.0, 1.0, 2 * shape[0] - 1) * datamodule.coord_scale
        rendered = np.empty((times.shape[0], *shape[1:], datamodule.out_features), dtype=np.float32)
        for t, time in enumerate(times):
            coords = torch.cat([torch.full((spatial.shape[0], 1), float(time)), spatial], dim=1)
            rendered[t] = module.predict_points(coords, self.chunk_size).reshape(*shape[1:], -1).numpy()
        fps = 2.0 * (self.fps or 25.0)
        return write_video(path, np.clip((rendered + 1.0) / 2.0, 0.0, 1.0), fps)


def save_frame_figure(frames, index, held: dict, record: dict, path: Path) -> Path:
    """The held-out frame with the most motion: its neighbours, the truth, both predictions."""
    import matplotlib.pyplot as plt

    from inr_bench.visualize import to_uint8

    motion = [float(np.abs(frames[t + 1] - frames[t - 1]).mean()) for t in index]
    pick = int(np.argmax(motion))
    t = int(index[pick])
    inr, average = held["inr"][pick], held["average_of_neighbours"][pick]
    psnrs = {key: record["held_out"][key]["per_frame_psnr"][pick] for key in held}
    panels = [
        (to_uint8(frames[t - 1]), f"frame {t - 1} (trained)"),
        (to_uint8(frames[t]), f"frame {t} (held out, truth)"),
        (to_uint8(frames[t + 1]), f"frame {t + 1} (trained)"),
        (to_uint8(average), f"average of neighbours: {psnrs['average_of_neighbours']:.2f} dB"),
        (to_uint8(inr), f"INR: {psnrs['inr']:.2f} dB"),
        (np.abs(inr - frames[t]).mean(-1), "|INR - truth|"),
    ]
    figure, axes = plt.subplots(2, 3, figsize=(12, 8))
    for axis, (image, title) in zip(axes.flat, panels, strict=True):
        if image.dtype == np.uint8:
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        else:
            axis.imshow(image, cmap="magma", vmin=0, vmax=1)
        axis.set_title(title, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
