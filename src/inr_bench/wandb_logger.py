"""Lightning's W&B logger without the `anonymous` setting, which W&B has deprecated: Lightning
passes it on every run, and W&B then prints a warning that alarms users of offline runs."""

from __future__ import annotations

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wandb_init.pop("anonymous", None)
