"""Bad inputs, numerical failures, atomic results and reproducibility: what the user sees and
what is kept. Each bad input is a real file made from the shared data (a truncated copy of a real
PNG, an HTML page saved as .png, a WAV without samples, a video cut short, ...).

Runs use the eager activation (INR_BENCH_FUSED=0) and one CPU thread: these tests are about
behaviour, not kernels, and share a small machine (several threads per op thrash under load).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import inr_bench.atomic as atomic
import inr_bench.train as train_module
from inr_bench.atomic import write_json_atomic, write_text_atomic
from inr_bench.data.image import ImageDataModule, read_image_file
from inr_bench.errors import InrBenchError, NonFiniteLossError
from inr_bench.record import RunRecord, read_metrics
from inr_bench.train import train

TINY = ("data.size=16", "save_outputs=false")


@pytest.fixture(autouse=True)
def eager_single_thread(monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """`python -m inr_bench.train ARGV` in this process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["inr_bench.train", *argv])
    code = 0
    try:
        train_module.cli()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    return code, capsys.readouterr().err


def failing(cfg, match: str = "") -> str:
    """train(cfg) must raise InrBenchError; returns its message."""
    with pytest.raises(InrBenchError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(cfg)
    message = str(info.value)
    for part in match.split("|") if match else ():
        assert part in message, message
    return message


@pytest.fixture
def earlier_run(tmp_path) -> Path:
    """A run folder with results already in it: a later bad run into it must not touch them."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"status": "ok", "earlier": true}\n')
    (folder / "config.yaml").write_text("earlier: true\n")
    return folder


def assert_untouched(folder: Path) -> None:
    assert (folder / "metrics.json").read_text() == '{"status": "ok", "earlier": true}\n'
    assert (folder / "config.yaml").read_text() == "earlier: true\n"
    assert not list(folder.glob(".*.tmp"))


# ----------------------------------------------------------------------------- names and keys


@pytest.mark.parametrize(
    "override, hydra_says, hint",
    [
        ("model=sprder", "Could not find 'model/sprder'", "Did you mean `model=spder`?"),
        ("delta=sqaure", "Could not find 'delta/sqaure'", "Did you mean `delta=square`?"),
        ("data=div2", "Could not find 'data/div2'", "Did you mean `data=div2k`?"),
        ("task=superress", "Could not find 'task/superress'", "Did you mean `task=superres`?"),
        ("trainer.max_step=3", "Could not override 'trainer.max_step'", "Did you mean `trainer.max_steps`"),
        ("modle=siren", "Could not override 'modle'", "Did you mean `model`?"),
        # wrong types are refused when the config is composed (the schema)
        (
            "seed=abc",
            "Error merging override seed=abc",
            "`seed` takes a whole number, not 'abc' (currently 0)",
        ),
        ("eval_steps=often", "Error merging override eval_steps=often", "`eval_steps` takes a list"),
        ("data.size=big", "Error merging override data.size=big", "`data.size` takes a whole number"),
    ],
)
def test_unknown_names_and_keys(monkeypatch, capsys, tmp_path, override, hydra_says, hint):
    """The hint alone, in place of Hydra's page of text (which says `hydra_says`)."""
    code, err = run_cli(monkeypatch, capsys, override, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 1
    assert err.strip().startswith("[inr_bench] error: ") and hint in err, err
    assert hydra_says not in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()


# ----------------------------------------------------------------------------- nonsense numbers


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["data.size=0"], "data.size must be a positive"),
        (["data.size=-1"], "data.size must be a positive"),
        (["data.size=1024"], "data.size=1024 is larger than the image|data.size=512 or less"),
        (["data=div2k", "data.index=16"], "data.index=16|holds only 16|between 0 and 15"),
        (["data=div2k", "data.index=-1"], "data.index must be a non-negative"),
        (["trainer.max_steps=0"], "trainer.max_steps must be a positive"),
        (["trainer.max_steps=-5"], "trainer.max_steps must be a positive"),
        (["eval_steps=[-1]"], "eval_steps must be a list of positive"),
        (["eval_steps=[0,5]"], "eval_steps must be a list of positive"),
        (["data.chunk_size=0"], "data.chunk_size must be a positive"),
        (["data.chunk_size=-3"], "data.chunk_size must be a positive"),
        (["eval_chunk_size=0"], "eval_chunk_size must be a positive"),
        (["model.optimizer.lr=0"], "model.optimizer.lr must be a positive"),
        (["model.optimizer.lr=-1e-4"], "model.optimizer.lr must be a positive"),
        (["model.net.width=0"], "Could not build `model.net`|width must be >= 1"),
        (["+trainer.max_step=3"], "Could not build `trainer`|unexpected keyword argument 'max_step'"),
        (["trainer.precision=banana"], "Could not build `trainer`|Precision 'banana' is invalid"),
        (["data.crop=middle"], "data.crop must be one of"),
        (["resume=last"], "resume=last: no checkpoint at"),
    ],
)
def test_nonsense_numbers_are_clear_errors_and_lose_nothing(
    make_config, shared_data, earlier_run, overrides, match
):
    cfg = make_config(*TINY, "trainer.max_steps=2", *overrides)
    failing(cfg, match)
    assert_untouched(earlier_run)


# ----------------------------------------------------------------------------- bad image files


@pytest.fixture
def bad_image_folder(tmp_path, shared_data) -> Path:
    """Four unreadable .png files (sorted first), one real image, and a text file that is no image."""
    folder = tmp_path / "images"
    folder.mkdir()
    real = (shared_data / "div2k" / "div2k_crop_00.png").read_bytes()
    (folder / "a_truncated.png").write_bytes(real[: len(real) // 2])
    (folder / "b_page.png").write_text(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"
    )
    (folder / "c_empty.png").write_bytes(b"")
    (folder / "d_notes.png").write_text("These are notes, saved with the wrong name.\n")
    shutil.copy(shared_data / "div2k" / "div2k_crop_03.png", folder / "e_good.png")
    (folder / "readme.txt").write_text("not an image suffix: never listed\n")
    return folder


@pytest.mark.parametrize(
    "name, says",
    [
        ("a_truncated.png", "image file is truncated"),
        ("b_page.png", "HTML"),
        ("c_empty.png", "empty (0 bytes)"),
        ("d_notes.png", "text file"),
    ],
)
def test_each_bad_image_file_is_named_with_its_fix(bad_image_folder, name, says):
    with pytest.raises(InrBenchError) as info:
        ImageDataModule(name="x", path=str(bad_image_folder / name), size=16).setup()
    message = str(info.value)
    assert name in message and says in message and "data.skip_bad_files=true" in message, message


def test_bad_image_in_a_folder_stops_the_cli_and_keeps_earlier_results(
    monkeypatch, capsys, bad_image_folder, earlier_run
):
    code, err = run_cli(
        monkeypatch,
        capsys,
        "data=image_folder",
        f"data.path={bad_image_folder}",
        *TINY,
        "trainer.max_steps=2",
        f"hydra.run.dir={earlier_run}",
    )
    assert code == 2 and "Traceback" not in err
    assert "[inr_bench] error: Cannot read image" in err and "a_truncated.png" in err
    assert "data.skip_bad_files=true" in err
    assert_untouched(earlier_run)


def test_skip_bad_files_warns_and_uses_the_next_readable_image(make_config, bad_image_folder, tmp_path):
    cfg = make_config(
        "data=image_folder",
        f"data.path={bad_image_folder}",
        "data.skip_bad_files=true",
        *TINY,
        "trainer.max_steps=2",
        "callbacks=none",
    )
    with pytest.warns(UserWarning) as caught:
        result = train(cfg)
    skipped = [str(w.message) for w in caught if "skip_bad_files" in str(w.message)]
    assert len(skipped) == 4
    for name in ("a_truncated.png", "b_page.png", "c_empty.png", "d_notes.png"):
        assert any(name in message for message in skipped), (name, skipped)
    assert result["status"] == "ok" and result["info"]["source"].endswith("e_good.png")

    expected = ImageDataModule(name="x", path=str(bad_image_folder / "e_good.png"), size=16)
    expected.setup()
    dm = ImageDataModule(name="x", path=str(bad_image_folder), skip_bad_files=True, size=16)
    with pytest.warns(UserWarning):
        dm.setup()
    torch.testing.assert_close(dm.values, expected.values, rtol=0, atol=0)

    beyond = make_config(
        "data=image_folder",
        f"data.path={bad_image_folder}",
        "data.skip_bad_files=true",
        "data.index=1",
        *TINY,
        subdir="beyond",
    )
    failing(beyond, "data.index=1|holds only 1 readable image(s) (of 5 image files)")
    (bad_image_folder / "e_good.png").unlink()
    with pytest.warns(UserWarning), pytest.raises(InrBenchError, match="None of the 4 image files"):
        ImageDataModule(name="x", path=str(bad_image_folder), skip_bad_files=True, size=16).setup()


def test_image_modes_that_are_not_plain_pixels(tmp_path, shared_data):
    """Palette and CMYK files are converted (their raw arrays are indices / another colour
    space); float pixels outside [0, 1] have no known white level and are refused."""
    rgb = Image.open(shared_data / "ffhq" / "00000.png").convert("RGB")
    rgb.convert("P", palette=Image.ADAPTIVE).save(tmp_path / "palette.png")
    palette = read_image_file(tmp_path / "palette.png")
    expected = np.asarray(Image.open(tmp_path / "palette.png").convert("RGBA"))
    np.testing.assert_array_equal(palette, expected)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert read_image_file(tmp_path / "cmyk.jpg").shape == (256, 256, 3)
    rgb.convert("F").save(tmp_path / "float.tif")  # values 0..255 stored as float
    with pytest.raises(InrBenchError, match=r"floating-point pixels must be finite and lie in \[0, 1\]"):
        read_image_file(tmp_path / "float.tif")


# ----------------------------------------------------------------------------- bad audio and video


@pytest.fixture
def audio_files(tmp_path, shared_data) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    (folder / "zero_bytes.wav").write_bytes(b"")
    sf.write(folder / "no_samples.wav", np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    sf.write(folder / "silent.wav", np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    (folder / "page.wav").write_text("<html><head><title>403 Forbidden</title></head></html>\n")
    speech, rate = sf.read(shared_data / "audio" / "arctic_a0007.wav", dtype="int16")
    sf.write(folder / "short.wav", speech[: rate // 2], rate, subtype="PCM_16")  # a real 0.5 s clip
    return folder


@pytest.mark.parametrize(
    "file, extra, match",
    [
        ("zero_bytes.wav", [], "empty (0 bytes)"),
        ("no_samples.wav", [], "holds no samples"),
        ("silent.wav", [], "silent"),
        ("page.wav", [], "HTML"),
        ("short.wav", ["data.seconds=2"], "is 0.5 s long|largest valid seconds is 0.5"),
        ("short.wav", ["data.offset=1"], "starts at or after its end"),
    ],
)
def test_bad_audio_through_the_datamodule(make_config, audio_files, earlier_run, file, extra, match):
    cfg = make_config(
        "data=audio_file",
        f"data.path={audio_files / file}",
        *extra,
        "save_outputs=false",
        "trainer.max_steps=2",
    )
    message = failing(cfg, match)
    assert file in message
    assert_untouched(earlier_run)


@pytest.fixture
def bikes(shared_data) -> Path:
    return shared_data / "video" / "bikes.mp4"


def test_video_cut_short_and_shorter_than_asked(make_config, bikes, tmp_path, earlier_run):
    cut = tmp_path / "bikes_cut.mp4"
    cut.write_bytes(bikes.read_bytes()[: 2 * bikes.stat().st_size // 3])  # index (moov) lost
    video = ["data=video_file", "data.size=16", "save_outputs=false", "trainer.max_steps=2"]
    failing(make_config(*video, f"data.path={cut}", "data.num_frames=4"), "bikes_cut.mp4|truncated")

    from inr_bench.data.video_io import load_video, write_video

    short = tmp_path / "five_frames.mp4"  # a real, complete clip of 5 frames
    write_video(short, load_video(bikes, num_frames=5, crop=64, channels="rgb"), fps=25)
    failing(
        make_config(*video, f"data.path={short}", "data.num_frames=10", subdir="short"),
        "five_frames.mp4 has only 5 frames|num_frames=10|largest valid num_frames",
    )
    failing(
        make_config(*video, f"data.path={short}", "data.size=128", "data.num_frames=2", subdir="big"),
        "data.size=128 is larger than the frames",
    )
    assert_untouched(earlier_run)


# ----------------------------------------------------------------------------- numerical failures


def test_divergence_stops_at_once_and_keeps_the_last_finite_state(make_config, tmp_path):
    # A real divergence: log damping with lr 100 blows up after a few finite steps.
    cfg = make_config(
        "delta=log",
        "model.optimizer.lr=100",
        *TINY,
        "trainer.max_steps=40",
        "eval_steps=[5]",
        "callbacks.checkpoint.every_n_train_steps=5",
    )
    with pytest.raises(NonFiniteLossError) as info:
        train(cfg)
    message = str(info.value)
    assert "The training loss became nan" in message and "model.optimizer.lr" in message
    assert "evaluations up to step 5" in message and "checkpoints/last.ckpt" in message
    failed_at = int(message.split(" at step ")[1].split(";")[0])
    assert 5 < failed_at < 40

    run = tmp_path / "run"
    metrics = read_metrics(run)
    assert metrics["status"] == "failed" and metrics["reason"].startswith(
        "NonFiniteLossError: The training loss"
    )
    assert [entry["step"] for entry in metrics["evals"]] == [5]
    assert all(np.isfinite(value) for value in metrics["evals"][0].values() if value is not None)
    curve = (run / "loss_curve.csv").read_text().splitlines()
    assert curve[0] == "step,loss" and [int(line.split(",")[0]) for line in curve[1:]] == list(
        range(failed_at - 1)
    )
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 5 * ((failed_at - 1) // 5)
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
    assert (run / "config.yaml").is_file() and not list(run.glob(".*.tmp"))


def test_an_overflowing_gradient_stops_before_the_update(make_config, tmp_path):
    # sqrt damping with lr 100: the loss is still finite at step 2 but its gradient is not.
    cfg = make_config("delta=sqrt", "model.optimizer.lr=100", *TINY, "trainer.max_steps=10", "eval_steps=[5]")
    with pytest.raises(NonFiniteLossError, match="The gradient became NaN or infinite at step 2"):
        train(cfg)
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "failed" and "gradient" in metrics["reason"] and metrics["evals"] == []
    assert "no checkpoint (none saved yet" in metrics["reason"]


def test_cli_divergence_exits_non_zero_without_traceback(monkeypatch, capsys, tmp_path):
    # Superlinear damping overflows at the first step whatever the learning rate.
    code, err = run_cli(
        monkeypatch, capsys, "delta=square", *TINY, "trainer.max_steps=5", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert code == 2 and "Traceback" not in err
    assert "[inr_bench] error: The training loss became nan at step 1" in err
    assert read_metrics(tmp_path / "run")["status"] == "failed"


@pytest.mark.slow
def test_a_diverging_job_does_not_stop_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inr_bench.train",
            "-m",
            "delta=square,sqrt",
            *TINY,
            "trainer.max_steps=3",
            "eval_steps=[2]",
            "callbacks=none",
            f"hydra.sweep.dir={sweep}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "INR_BENCH_FUSED": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[inr_bench] error: The training loss became nan at step 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    diverged, fine = read_metrics(sweep / "0"), read_metrics(sweep / "1")
    assert diverged["delta"] == "square" and diverged["status"] == "failed" and "nan" in diverged["reason"]
    assert fine["delta"] == "sqrt" and fine["status"] == "ok" and fine["final"]["step"] == 3


# ----------------------------------------------------------------------------- atomic writes


@pytest.fixture
def old_file(tmp_path) -> Path:
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"status": "ok", "old": True})
    return path


@pytest.mark.parametrize("breaks", ["os.replace", "os.fsync", "json.dumps"])
def test_a_crash_mid_write_leaves_the_old_file_and_no_temp_file(monkeypatch, old_file, breaks):
    before = old_file.read_text()

    def crash(*args, **kwargs):
        raise OSError(f"simulated crash in {breaks}")

    module, name = breaks.split(".")
    monkeypatch.setattr(getattr(atomic, module), name, crash)
    with pytest.raises(OSError, match="simulated crash"):
        RunRecord(model="spder", evals=[{"step": 1, "loss": 0.5}]).write(old_file.parent)
    monkeypatch.undo()
    assert old_file.read_text() == before and json.loads(before)["old"] is True
    assert sorted(p.name for p in old_file.parent.iterdir()) == ["metrics.json"]


def test_every_result_file_of_a_run_is_written_atomically(make_config, monkeypatch, tmp_path):
    renamed = []
    real_replace = os.replace

    def spy(src, dst):
        renamed.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    train(
        make_config(
            *TINY, "trainer.max_steps=3", "eval_steps=[1]", "callbacks.checkpoint.every_n_train_steps=1"
        )
    )
    assert {"metrics.json", "loss_curve.csv", "config.yaml", "last.ckpt"} <= set(renamed)
    run = tmp_path / "run"
    assert not list(run.rglob("*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert (run / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_text_atomic_keeps_the_mode_of_an_existing_file(tmp_path):
    path = write_text_atomic(tmp_path / "summary.csv", "a\n")
    path.chmod(0o640)
    write_text_atomic(path, "b\n")
    assert path.read_text() == "b\n" and path.stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_metrics(make_config, tmp_path):
    overrides = (*TINY, "trainer.max_steps=20", "eval_steps=[5,10]", "callbacks=none")
    first = train(make_config(*overrides, subdir="first"))
    second = train(make_config(*overrides, subdir="second"))
    other = train(make_config(*overrides, "seed=1", subdir="other"))
    assert [e["step"] for e in first["evals"]] == [5, 10, 20]
    assert first["evals"] == second["evals"] and first["best"] == second["best"]  # exact float equality
    assert (tmp_path / "first" / "loss_curve.csv").read_text() == (
        tmp_path / "second" / "loss_curve.csv"
    ).read_text()
    assert other["evals"] != first["evals"]  # the seed is what makes them equal
