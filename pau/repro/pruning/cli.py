"""``pau-prune``: the pruning experiment (Fig. 4) as a Hydra command, like ``pau-train``."""
from __future__ import annotations

import json

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pau.repro.errors import report_user_errors
from pau.repro.pruning.config import PruneConfig, register_configs
from pau.repro.pruning.run import prune
from pau.repro.training.cli import hydra_command, with_command_line


@report_user_errors("pau-prune")
def _prune(cfg: DictConfig) -> dict:
    result = prune(with_command_line(cfg), run_dir=HydraConfig.get().runtime.output_dir)
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    hydra_command("pau-prune", "prune", PruneConfig, register_configs, _prune)


if __name__ == "__main__":
    main()
