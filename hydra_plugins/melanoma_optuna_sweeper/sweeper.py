"""`MelanomaOptunaSweeper`: Hydra's Sweeper interface over `melanoma_exp.sweep.driver`.

Study settings (storage, study name, n_trials, sampler, pruner, heartbeats, max_failures) are read
from the `sweep:` node of the composed config, which every job sees as well; only the search space
lives here (`hydra.sweeper.params`, `hydra.sweeper.conditions`), in Hydra's sweep syntax.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class MelanomaOptunaSweeper(Sweeper):
    """Run the trials of one Optuna study through Hydra's launcher."""

    def __init__(self, params: Any = None, conditions: Any = None) -> None:
        self.params = dict(params or {})
        self.conditions = dict(conditions or {})
        self.config: DictConfig | None = None
        self.launcher = None
        self.check_data = False

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        # run.py (the trainer's entry point) sets SWEEP_CHECKS_DATA: its sweeps refuse an unasked-for
        # synthetic ImageNet sweep and print the data banner; a toy task (tests) trains on no data.
        module = sys.modules.get(getattr(task_function, "__module__", None) or "")
        self.check_data = bool(getattr(module, "SWEEP_CHECKS_DATA", False))
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        """Sweep until the study holds `sweep.n_trials` trials; returns the Optuna study."""
        import melanoma_exp.config  # noqa: F401  (registers ${project_root:} for the jobs)
        from melanoma_exp.sweep.driver import SweepRun
        from melanoma_exp.training.validate import SyntheticSweepRefused

        assert self.config is not None and self.launcher is not None, "setup() was not called"
        if not self.config.get("sweep"):
            raise ValueError(
                "The melanoma_optuna sweeper needs the `sweep:` settings: run with +sweep=optuna"
            )
        run = SweepRun(self.config, self.launcher, list(arguments), self.params, self.conditions,
                       check_data=self.check_data)
        try:
            return run.run()
        except SyntheticSweepRefused as exc:  # a message for a person, not a traceback
            print(f"Error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
