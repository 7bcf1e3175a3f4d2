"""One clip of an audio table, every column's reconstruction beside the ground truth:
waveform, a 20 ms zoom and the amplitude spectra in one picture.

    python -m inr_bench.tables.audio_figure table_results/table2_soundscapes audio_file_0000 \
        --columns spder siren --out docs/img/table2_soundscape_0.png

Reads the WAVs a table writes with `table.save_outputs=true` (runs/<column>/<signal>/) and each
fit's metrics from its result file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf

from inr_bench.visualize import audio_caption, save_audio_comparison


def write(table_dir: Path, signal: str, columns: list[str], out: Path) -> Path:
    table_dir = Path(table_dir)
    truth, rate = sf.read(str(table_dir / "runs" / columns[0] / signal / "ground_truth.wav"), dtype="float32")
    reconstructions = {}
    for column in columns:
        record = json.loads((table_dir / "results" / column / f"{signal}.json").read_text())
        pred, _ = sf.read(str(table_dir / "runs" / column / signal / "reconstruction.wav"), dtype="float32")
        reconstructions[audio_caption(record.get("label") or column, record.get("final"))] = pred
    source = (
        json.loads((table_dir / "results" / columns[0] / f"{signal}.json").read_text()).get("signal") or {}
    ).get("source")
    return save_audio_comparison(truth, reconstructions, rate, out, title=source or signal)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table_dir", type=Path)
    parser.add_argument("signal", help="a signal id of the table, e.g. audio_file_0000")
    parser.add_argument("--columns", nargs="+", default=["spder", "siren"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or args.table_dir / f"{args.signal}_{'_'.join(args.columns)}.png"
    print(write(args.table_dir, args.signal, args.columns, out))


if __name__ == "__main__":
    main()
