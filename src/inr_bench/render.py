"""Render a trained image INR at any resolution, in bounded memory.

    python -m inr_bench.render ckpt=RUN/checkpoints/last.ckpt size=4096 [out=FILE.png]
        [tile=65536] [grid=pixel_centres|linspace] [device=auto|cpu|cuda]

The network is rebuilt from the run's `config.yaml` (the folder above `checkpoints/`) and its
input/output widths from the run's `metrics.json`; the weights come from the checkpoint. `size`
is a side (square) or HxW. The image is predicted in bands of whole rows, about `tile` points
(at least one row) per forward pass, and each band is compressed straight into the PNG (a
streaming writer), so the memory used does not grow with `size` (only with `tile` and the width). `grid=pixel_centres` (default) puts each output pixel at
its centre in the frame the INR was fit in (see inr_bench.tasks.superres); `grid=linspace`
queries linspace(-1, 1, size) per axis. Default out: RUN/render_<H>x<W>.png. Prints the peak
resident memory of the process at the end.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from inr_bench.errors import InrBenchError

USAGE = __doc__.split("\n\n")[1]
KEYS = ("ckpt", "size", "out", "tile", "grid", "device")


class PngStreamWriter:
    """Writes an 8-bit greyscale or RGB PNG row band by row band (one zlib stream, IDAT chunks)."""

    def __init__(self, path: Path, height: int, width: int, channels: int, level: int = 6) -> None:
        if channels not in (1, 3):
            raise ValueError(f"PNG rows need 1 (grey) or 3 (RGB) channels, got {channels}")
        self.path, self.height, self.width, self.channels = Path(path), height, width, channels
        self.rows_written = 0
        self.compressor = zlib.compressobj(level)
        self.stream = open(self.path, "wb")
        self.stream.write(b"\x89PNG\r\n\x1a\n")
        colour_type = 0 if channels == 1 else 2
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.stream.write(struct.pack(">I", len(data)) + kind + data)
        self.stream.write(struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def write_rows(self, rows: np.ndarray) -> None:
        """uint8 rows (r, W) or (r, W, C); each is prefixed with filter type 0 (none)."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(rows.shape[0], -1)
        if rows.shape[1] != self.width * self.channels:
            raise ValueError(f"rows of {rows.shape[1]} bytes, expected {self.width * self.channels}")
        filtered = np.concatenate([np.zeros((rows.shape[0], 1), dtype=np.uint8), rows], axis=1)
        data = self.compressor.compress(filtered.tobytes())
        if data:
            self._chunk(b"IDAT", data)
        self.rows_written += rows.shape[0]

    def close(self) -> None:
        if self.rows_written != self.height:
            self.stream.close()
            raise ValueError(f"PNG {self.path} got {self.rows_written} rows of {self.height}")
        self._chunk(b"IDAT", self.compressor.flush())
        self._chunk(b"IEND", b"")
        self.stream.close()


def _parse_size(value: str) -> tuple[int, int]:
    parts = value.lower().split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        raise InrBenchError(f"size must be a side (4096) or HxW (2048x4096), got {value!r}.") from None
    if len(sides) == 1:
        sides *= 2
    if len(sides) != 2 or min(sides) < 1:
        raise InrBenchError(
            f"size must be a side (4096) or HxW (2048x4096) of positive numbers, got {value!r}."
        )
    return sides[0], sides[1]


def load_network(ckpt: Path, device: str = "cpu"):
    """The network of a run, its training signal shape, and the run's config, from a checkpoint."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    ckpt = Path(ckpt).expanduser()
    if not ckpt.is_file():
        raise InrBenchError(f"ckpt={ckpt}: no such checkpoint. Give a run's checkpoints/last.ckpt.")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    config_path, metrics_path = run_dir / "config.yaml", run_dir / "metrics.json"
    if not config_path.is_file():
        raise InrBenchError(
            f"No config.yaml beside the checkpoint (looked in {run_dir}); it is needed to rebuild the network."
        )
    cfg = OmegaConf.load(config_path)
    if metrics_path.is_file():
        info = json.loads(metrics_path.read_text()).get("info", {})
        shape, channels = info.get("signal_shape"), info.get("channels")
    else:
        shape = channels = None
    if not shape or not channels:  # an old or interrupted run: read the data once instead
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        shape, channels = list(datamodule.signal_shape), datamodule.out_features
    net = instantiate(cfg.model.net, in_features=len(shape), out_features=int(channels))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict(
        {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    )
    return net.to(device).eval(), tuple(shape), cfg, run_dir


def axis_coordinates(base: int, size: int, grid: str, scale: float) -> torch.Tensor:
    from inr_bench.tasks.base import pixel_centre_axis

    if grid == "pixel_centres":
        return pixel_centre_axis(base, size, scale)
    if grid == "linspace":
        return torch.linspace(-1.0, 1.0, size, dtype=torch.float64).float() * scale
    raise InrBenchError(f"grid must be pixel_centres or linspace, got {grid!r}.")


@torch.no_grad()
def render(
    ckpt, size, out=None, tile: int = 65536, grid: str = "pixel_centres", device: str = "auto", progress=None
) -> Path:
    """Render the image INR of checkpoint `ckpt` at `size` (side or (H, W)) into a PNG;
    `progress(rows_done, height)` is called after each band when given."""
    from inr_bench.visualize import to_uint8

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    net, shape, cfg, run_dir = load_network(Path(ckpt), device)
    if len(shape) != 2:
        raise InrBenchError(f"render draws images; this run's signal has shape {list(shape)} (not 2-D).")
    scale = float(cfg.data.get("coord_scale", 1.0) or 1.0)
    rows_y = axis_coordinates(shape[0], height, grid, scale)
    cols_x = axis_coordinates(shape[1], width, grid, scale).to(device)
    out = Path(out) if out else run_dir / f"render_{height}x{width}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    band = max(1, int(tile) // width)  # whole rows per forward pass
    channels = None
    writer = None
    partial = out.with_name(f".{out.name}.partial")
    try:
        for top in range(0, height, band):
            ys = rows_y[top : top + band].to(device)
            coords = torch.stack(torch.meshgrid(ys, cols_x, indexing="ij"), dim=-1).reshape(-1, 2)
            values = net(coords).float().cpu().numpy().reshape(ys.shape[0], width, -1)
            if writer is None:
                channels = values.shape[-1]
                writer = PngStreamWriter(partial, height, width, 1 if channels == 1 else 3)
            writer.write_rows(to_uint8(values[..., :3] if channels > 3 else values))
            if progress is not None:
                progress(writer.rows_written, height)
        writer.close()
        partial.replace(out)
    finally:
        if writer is not None:
            writer.stream.close()  # already closed after a complete image; closes a failed one
        partial.unlink(missing_ok=True)
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0 if argv else 2
    options = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in KEYS:
            print(
                f"[inr_bench.render] error: unknown argument {arg!r}; expected key=value with key in {KEYS}\n{USAGE}",
                file=sys.stderr,
            )
            return 2
        options[key] = value
    try:
        if "ckpt" not in options or "size" not in options:
            raise InrBenchError("ckpt=PATH and size=N are required.")
        tile = options.get("tile", "65536")
        if not tile.isdigit() or int(tile) < 1:
            raise InrBenchError(f"tile must be a positive number of points, got {tile}.")
        start = time.perf_counter()
        shown = [0]

        def progress(done: int, total: int) -> None:  # a line per tenth of the rows
            if done * 10 // total > shown[0] or done == total:
                shown[0] = done * 10 // total
                print(
                    f"[inr_bench.render] {done}/{total} rows, {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                )

        path = render(
            options["ckpt"], _parse_size(options["size"]), options.get("out"), int(tile),
            options.get("grid", "pixel_centres"), options.get("device", "auto"), progress,
        )  # fmt: skip
    except InrBenchError as error:
        print(f"[inr_bench.render] error: {error}", file=sys.stderr)
        return 2
    print(
        f"[inr_bench.render] wrote {path} in {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
