"""Config registration and composition helpers shared by the entry points and the tests."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore

from inr_bench.data.image import SKIMAGE_PICTURES

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def register_configs() -> None:
    """`data=<picture>` for every scikit-image sample picture (camera has its own file)."""
    store = ConfigStore.instance()
    for picture in SKIMAGE_PICTURES:
        if picture == "camera":
            continue
        store.store(
            group="data",
            name=picture,
            node={
                "_target_": "inr_bench.data.image.ImageDataModule",
                "name": picture,
                "picture": picture,
                "size": 256,
                "crop": "top_left",
                "channels": "first",
                "chunk_size": None,
            },
        )


register_configs()
