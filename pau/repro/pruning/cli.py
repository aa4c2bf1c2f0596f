"""``pau-prune``: the pruning experiment (Fig. 4) as a Hydra command, like ``pau-train``."""
from __future__ import annotations

import json
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pau.repro.errors import report_user_errors
from pau.repro.pruning.config import PruneConfig, register_configs
from pau.repro.pruning.run import prune
from pau.repro.training.cli import CONF_DIR, check_group_keys, require_config_dir, with_command_line


@report_user_errors("pau-prune")
def _prune(cfg: DictConfig) -> dict:
    result = prune(with_command_line(cfg), run_dir=HydraConfig.get().runtime.output_dir)
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    require_config_dir("pau-prune", sys.argv[1:])
    report_user_errors("pau-prune")(check_group_keys)(sys.argv[1:], PruneConfig)
    register_configs()
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="prune")(_prune)()


if __name__ == "__main__":
    main()
