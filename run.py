"""Train one model (or, with `+sweep=optuna`, run a sweep of them) from the composed config.

    python run.py                                  # the default config (conf/config.yaml)
    python run.py +experiment=demo                 # a complete recipe from experiments/
    python run.py model=densenet201 head.units=512 # any key from the command line
    python run.py model=densenet201 --cfg job      # print the composed config, train nothing
    python run.py +cv=kfold cv.folds=5             # grouped k-fold cross-validation
    python run.py trainer.backend=jax              # Keras on JAX (trains without TensorFlow)

Returns the objective (best `trainer.monitor`) so Hydra sweepers can optimise it.
Research tool, not medical advice.
"""

from melanoma_exp.console import quiet_native_logs

quiet_native_logs()  # TensorFlow's C++ start-up notices stay off screen unless TF_CPP_MIN_LOG_LEVEL is set

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import melanoma_exp.config  # noqa: E402,F401  (registers ${project_root:} before Hydra composes)

# Read by the melanoma_optuna sweeper: sweeps of this task refuse an ImageNet-weight >= 224 px sweep
# on synthetic data that the command line did not ask for, and name their data first.
SWEEP_CHECKS_DATA = True


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from melanoma_exp.data.summary import data_banner
    from melanoma_exp.training.runtime import select_backend, start_backend

    select_backend(str(cfg.trainer.backend))  # KERAS_BACKEND, before anything imports Keras
    print(data_banner(cfg.data), flush=True)  # first line: the data this run trains on
    print(start_backend(), flush=True)  # second: the device (CPU/GPU) it trains on
    if cfg.get("cv"):  # `+cv=kfold`: one run per fold, objective = mean over folds
        from melanoma_exp.commands.cv import cross_validate

        return cross_validate(cfg)
    from melanoma_exp.commands.train import train

    return train(cfg)


if __name__ == "__main__":
    main()
