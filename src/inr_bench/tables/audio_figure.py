"""One clip of an audio table, every column's reconstruction beside the ground truth:
waveform, a 20 ms zoom and the amplitude spectra in one picture.

    python -m inr_bench.tables.audio_figure table_results/table2_soundscapes audio_file_0000 \
        --columns spder siren --out docs/img/table2_soundscape_0.png

Reads the WAVs a table writes with `table.save_outputs=true` (runs/<column>/<signal>/) and each
fit's metrics from its result file. `--interpolation` (Table 4's tables) shows the predictions at
the full density of the clip instead of the fit of the training samples, with linear
interpolation beside (scores: the task's, at that factor):

    python -m inr_bench.tables.audio_figure table_results/table4_soundscapes_clip1 audio_file_0001 \
        --interpolation --out docs/img/table4_soundscape_clip1.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf

from inr_bench.visualize import audio_caption, save_audio_comparison

# The audio_interp task's WAVs (tasks/audio_interp.py) and the baseline shown beside the networks.
INTERP_PREFIX = "audio_interp_"
INTERP_BASELINE = ("linear_interp", "linear interpolation")


def _interp_scores(record: dict, key: str) -> dict | None:
    """The task's scores of `key` (inr or a baseline) at the full-density factor, as a caption wants."""
    factors = (record.get("task") or {}).get("factors") or {}
    if not factors:
        return None
    entry = factors[max(factors, key=int)][key]
    return {"loss": entry["mse"], "psnr": entry["psnr"], "rho_ag": entry["rho_ag"]}


def write(table_dir: Path, signal: str, columns: list[str], out: Path, interpolation: bool = False) -> Path:
    table_dir = Path(table_dir)
    prefix = INTERP_PREFIX if interpolation else ""
    runs = table_dir / "runs"
    truth, rate = sf.read(str(runs / columns[0] / signal / f"{prefix}ground_truth.wav"), dtype="float32")
    records = {c: json.loads((table_dir / "results" / c / f"{signal}.json").read_text()) for c in columns}
    reconstructions = {}
    for column, record in records.items():
        label = record.get("label") or column
        wav = f"{prefix}inr.wav" if interpolation else "reconstruction.wav"
        pred, _ = sf.read(str(runs / column / signal / wav), dtype="float32")
        scores = _interp_scores(record, "inr") if interpolation else record.get("final")
        reconstructions[audio_caption(label, scores)] = pred
    first = records[columns[0]]
    if interpolation:  # the baseline never sees a network: the same for every column, the first one's
        key, label = INTERP_BASELINE
        pred, _ = sf.read(str(runs / columns[0] / signal / f"{prefix}{key}.wav"), dtype="float32")
        reconstructions[audio_caption(label, _interp_scores(first, key))] = pred
    source = (first.get("signal") or {}).get("source")
    return save_audio_comparison(truth, reconstructions, rate, out, title=source or signal)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table_dir", type=Path)
    parser.add_argument("signal", help="a signal id of the table, e.g. audio_file_0000")
    parser.add_argument("--columns", nargs="+", default=["spder", "siren"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--interpolation",
        action="store_true",
        help="an audio_interp table: the predictions at full density, linear interpolation beside",
    )
    args = parser.parse_args(argv)
    out = args.out or args.table_dir / f"{args.signal}_{'_'.join(args.columns)}.png"
    print(write(args.table_dir, args.signal, args.columns, out, args.interpolation))


if __name__ == "__main__":
    main()
