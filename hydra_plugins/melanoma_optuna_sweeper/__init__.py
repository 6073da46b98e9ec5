"""The project's Optuna sweeper for Hydra (`override /hydra/sweeper: melanoma_optuna`).

Hydra imports every module of the `hydra_plugins` namespace package when it scans for plugins;
importing this one registers the `hydra/sweeper: melanoma_optuna` config. The logic lives in
`melanoma_exp.sweep`; this package is only the Hydra-facing shell.
"""

from hydra.core.config_store import ConfigStore

from hydra_plugins.melanoma_optuna_sweeper.sweeper import MelanomaOptunaSweeper

ConfigStore.instance().store(
    group="hydra/sweeper",
    name="melanoma_optuna",
    node={
        "_target_": "hydra_plugins.melanoma_optuna_sweeper.sweeper.MelanomaOptunaSweeper",
        "params": {},
        "conditions": {},
    },
    provider="melanoma_optuna_sweeper",
)

__all__ = ["MelanomaOptunaSweeper"]
