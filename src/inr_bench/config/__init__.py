"""Configuration: the YAML groups shipped in `inr_bench/conf`, their schema, composition,
the checks a schema cannot make, and the "did you mean" hints of a refused command line.

Importing this package registers the schema in Hydra's ConfigStore and the resolver
`${inr_bench.run_name:}` (model, its damping if it has one, and data: "spder-sqrt-camera",
"siren-camera"), which names W&B runs.
"""

from omegaconf import OmegaConf

from inr_bench.config import schema
from inr_bench.config.compose import CONFIG_DIR, CONFIG_MODULE, compose_config, group_options


def run_name(*, _root_) -> str:
    model = _root_.model
    parts = [model.name, model.get("damping"), _root_.data.get("name")]
    return "-".join(str(part) for part in parts if part)


schema.register()
if not OmegaConf.has_resolver("inr_bench.run_name"):
    OmegaConf.register_new_resolver("inr_bench.run_name", run_name)

__all__ = ["CONFIG_DIR", "CONFIG_MODULE", "compose_config", "group_options", "run_name"]
