"""Serve the top-level `experiments/` folder as Hydra's `experiment` config group.

The design card keeps complete recipes in `experiments/NAME.yaml` at the top of the repo, while Hydra
looks a group up as `<search path>/<group>/NAME.yaml`. `conf/config.yaml` therefore adds
`experiments://experiments` (and `experiments://outputs/experiments`, where sweeps write their
best_<study>.yaml) to `hydra.searchpath`; this config source maps the group `experiment` onto such a
folder, so `python run.py +experiment=demo` reads `experiments/demo.yaml`. A folder that does not
exist yet is an empty group.
A relative path is taken from the project root, never from the process cwd.
"""

from __future__ import annotations

import os

from hydra._internal.core_plugins.file_config_source import FileConfigSource

GROUP = "experiment"


class ExperimentsConfigSource(FileConfigSource):
    def __init__(self, provider: str, path: str) -> None:
        folder = path.split("://", 1)[-1]
        if not os.path.isabs(folder):
            from melanoma_exp.paths import project_root

            folder = str(project_root() / folder)
        super().__init__(provider=provider, path=f"{self.scheme()}://{folder}")

    @staticmethod
    def scheme() -> str:
        return "experiments"

    @staticmethod
    def _strip(config_path: str) -> str | None:
        """`experiment/demo` -> `demo`; `experiment` -> ``; anything else is not ours."""
        if config_path == GROUP:
            return ""
        if config_path.startswith(GROUP + "/"):
            return config_path[len(GROUP) + 1 :]
        return None

    def load_config(self, config_path: str):
        return super().load_config(self._strip(config_path) or config_path)

    def is_group(self, config_path: str) -> bool:
        if config_path == "":
            return True
        inner = self._strip(config_path)
        return inner is not None and super().is_group(inner)

    def is_config(self, config_path: str) -> bool:
        inner = self._strip(config_path)
        return bool(inner) and super().is_config(inner)

    def list(self, config_path: str, results_filter):
        from hydra.core.object_type import ObjectType

        if config_path == "":
            wanted = results_filter in (None, ObjectType.GROUP)
            return [GROUP] if wanted and super().is_group("") else []
        if self._strip(config_path) != "" or results_filter == ObjectType.GROUP:
            return []  # recipes are flat files: no sub-groups
        folder = self.path.split("://", 1)[-1]
        if not os.path.isdir(folder):
            return []
        return sorted(
            name[: -len(".yaml")] for name in os.listdir(folder) if name.endswith(".yaml")
        )
