"""bench/gpu_trainer.sh, the prepared GPU measurement of issue 17, checked without a GPU."""

from __future__ import annotations

import subprocess

from melanoma_exp.paths import project_root


def test_the_gpu_trainer_script_composes_a_valid_run(tmp_path):
    """bench/gpu_trainer.sh runs on a lent GPU in minutes of scarce device time: its run.py command
    line must compose and validate here, and the shell script must parse."""
    from bench.gpu_trainer import parse_args, run_overrides
    from melanoma_exp.config import compose
    from melanoma_exp.training.validate import validate_config

    cfg = compose(run_overrides(parse_args([]), tmp_path))
    validate_config(cfg)
    assert (cfg.trainer.backend, cfg.model.name, cfg.data.image_size, cfg.data.batch_size) == (
        "jax", "efficientnetv2b3", 224, 64)
    assert cfg.trainer.mixed_precision is True and cfg.unfreeze.after_epoch == 0
    assert subprocess.run(["bash", "-n", str(project_root() / "bench" / "gpu_trainer.sh")]).returncode == 0
