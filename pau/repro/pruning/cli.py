"""``pau-prune``: the pruning experiment (Fig. 4) as a Hydra command, like ``pau-train``."""
from __future__ import annotations

import json
import sys

import hydra
from omegaconf import DictConfig

from pau.repro.pruning.config import register_configs
from pau.repro.pruning.run import prune
from pau.repro.training.cli import CONF_DIR


def _prune(cfg: DictConfig) -> dict:
    result = prune(cfg)
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    if not CONF_DIR.is_dir():
        sys.exit(f"pau-prune: no configuration folder at {CONF_DIR} (it ships with the source checkout)")
    register_configs()
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="prune")(_prune)()


if __name__ == "__main__":
    main()
