"""Hydra/OmegaConf glue shared by run.py, the CLI and the tests.

Importing this module registers the `${project_root:}` resolver and the config schema
(`melanoma_exp.schema`), so it must be imported before any config is composed (run.py and the CLI
do it first thing).
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from melanoma_exp import schema
from melanoma_exp.paths import conf_dir, project_root

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))
schema.register()


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose the project's config outside `@hydra.main` (CLI commands, tests).

    Args:
        overrides: Hydra override strings, e.g. ``["data=isic", "data.image_size=64"]``.
        config_name: primary config in `conf/`.

    Returns:
        The composed config (not resolved; `${hydra:...}` interpolations are unavailable here).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        try:
            return hydra_compose(config_name=config_name, overrides=list(overrides))
        except ConfigCompositionException as exc:
            if exc.__cause__ is None:
                raise
            # Hydra keeps the reason (the key, the allowed values) in the cause; say it in one message.
            raise ConfigCompositionException(f"{exc}: {exc.__cause__}") from exc


def group_config(group: str, overrides: Sequence[str] = ()) -> DictConfig:
    """One group of the composed default config (e.g. ``eval``), schema-checked, for code that runs
    an analysis outside a training run; ``overrides`` as for `compose` (``["eval.bootstrap=100"]``)."""
    return compose(overrides)[group]
