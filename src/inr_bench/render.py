"""Render a trained image INR at any resolution, in bounded memory, from its checkpoint alone.

    python -m inr_bench.render ckpt=RUN/checkpoints/last.ckpt size=4096 [out=FILE.png]
        [tile=65536] [grid=pixel_centres|linspace] [device=auto|cpu|cuda]

The arguments are a Hydra config (conf/render.yaml, checked by `RenderConfig`), composed as
training's are. The checkpoint describes itself (the run's resolved config and the signal's
geometry are its hyper-parameters), so the network is rebuilt by `INRFitModule` through the
same builder as in training, with nothing else read. `size` is a side (square) or HxW. The
image is predicted in bands of whole rows, about `tile` points (at least one row) per forward
pass, and each band's rows are streamed into the PNG (pypng writes rows from an iterator), so
memory does not grow with `size`. `grid=pixel_centres` (default) puts each output pixel at its
centre in the frame the INR was fit in (see inr_bench.tasks.superres); `grid=linspace` queries
linspace(-1, 1, size) per axis. Default out: RUN/render_<H>x<W>.png. Prints the peak resident
memory of the process at the end.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hydra
import numpy as np
import png
import torch
from omegaconf import DictConfig, OmegaConf

from inr_bench.config import CONFIG_MODULE
from inr_bench.errors import InrBenchError


def parse_size(value) -> tuple[int, int]:
    parts = str(value).lower().split("x")
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


def load_network(ckpt: str | Path, device: str = "cpu"):
    """(network in eval mode, training signal shape, channels, coordinate scale, run folder) of a
    checkpoint."""
    from inr_bench.fitting.module import INRFitModule

    ckpt = Path(ckpt).expanduser()
    if not ckpt.is_file():
        raise InrBenchError(f"ckpt={ckpt}: no such checkpoint. Give a run's checkpoints/last.ckpt.")
    try:
        module = INRFitModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False)
    except (KeyError, TypeError) as error:
        raise InrBenchError(
            f"ckpt={ckpt} does not describe its network ({type(error).__name__}: {error}): it was written "
            f"by an inr_bench older than self-describing checkpoints. Train the run again to render it."
        ) from error
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    hparams = module.hparams
    return (
        module.net.to(device).eval(),
        tuple(hparams["signal_shape"]),
        int(hparams["out_features"]),
        float(hparams["coord_scale"]),
        run_dir,
    )


def axis_coordinates(base: int, size: int, grid: str, scale: float) -> torch.Tensor:
    from inr_bench.tasks.base import pixel_centre_axis

    if grid == "pixel_centres":
        return pixel_centre_axis(base, size, scale)
    if grid == "linspace":
        return torch.linspace(-1.0, 1.0, size, dtype=torch.float64).float() * scale
    raise InrBenchError(f"grid must be pixel_centres or linspace, got {grid!r}.")


@torch.no_grad()
def render(
    ckpt,
    size,
    out=None,
    tile: int = 65536,
    grid: str = "pixel_centres",
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render the image INR of checkpoint `ckpt` at `size` (side or (H, W)) into a PNG;
    `progress(rows_done, height)` is called after each band when given."""
    from inr_bench.visualize import to_uint8

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    net, shape, out_features, scale, run_dir = load_network(ckpt, device)
    if len(shape) != 2:
        raise InrBenchError(f"render draws images; this run's signal has shape {list(shape)} (not 2-D).")
    rows_y = axis_coordinates(shape[0], height, grid, scale)
    cols_x = axis_coordinates(shape[1], width, grid, scale).to(device)
    band = max(1, int(tile) // width)  # whole rows per forward pass

    def bands() -> Iterator[np.ndarray]:
        for top in range(0, height, band):
            ys = rows_y[top : top + band].to(device)
            coords = torch.stack(torch.meshgrid(ys, cols_x, indexing="ij"), dim=-1).reshape(-1, 2)
            yield net(coords).float().cpu().numpy().reshape(ys.shape[0], width, -1)

    def rows() -> Iterator[bytes]:
        done = 0
        for values in bands():
            pixels = to_uint8(values[..., :3] if values.shape[-1] > 3 else values)
            for row in pixels.reshape(pixels.shape[0], -1):
                yield row.tobytes()
            done += values.shape[0]
            if progress is not None:
                progress(done, height)

    out = Path(out) if out else run_dir / f"render_{height}x{width}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    writer = png.Writer(width, height, greyscale=out_features == 1, bitdepth=8)
    try:
        with partial.open("wb") as stream:
            writer.write(stream, rows())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(cfg: DictConfig) -> Path:
    """Render as `cfg` (conf/render.yaml) says, with a line per tenth of the rows."""
    missing = [key for key in ("ckpt", "size") if OmegaConf.is_missing(cfg, key)]
    if missing:
        raise InrBenchError(
            f"{' and '.join(missing)} missing: python -m inr_bench.render ckpt=RUN/checkpoints/last.ckpt "
            f"size=4096 (see `python -m inr_bench.render --help`)."
        )
    if cfg.tile < 1:
        raise InrBenchError(f"tile must be a positive number of points, got {cfg.tile}.")
    start = time.perf_counter()
    shown = [0]

    def progress(done: int, total: int) -> None:
        if done * 10 // total > shown[0] or done == total:
            shown[0] = done * 10 // total
            print(
                f"[inr_bench.render] {done}/{total} rows, {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )

    path = render(cfg.ckpt, parse_size(cfg.size), cfg.out, cfg.tile, cfg.grid, cfg.device, progress)
    print(
        f"[inr_bench.render] wrote {path} in {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
    return path


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="render")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except InrBenchError as error:
        print(f"[inr_bench.render] error: {error}", file=sys.stderr)
        sys.exit(2)


def cli() -> None:
    from inr_bench.config.hints import main_with_hints

    main_with_hints(main, "inr_bench.render", config_name="render")


if __name__ == "__main__":
    cli()
