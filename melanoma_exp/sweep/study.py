"""Open the Optuna study described by the `sweep:` config node (see conf/sweep/optuna.yaml).

The sweeper and every training job call these helpers with the same node, so both sides agree on the
storage, the sampler and — what matters for pruning in the job — the pruner.
"""

from __future__ import annotations

from typing import Any

from melanoma_exp.schema import PrunerName, SamplerName


def make_storage(sweep_cfg: Any, *, heartbeat: bool = False):
    """Build the RDB storage for `sweep.storage` (any SQLAlchemy URL: sqlite:///ABS, postgresql://…).

    Args:
        sweep_cfg: the `sweep` config node.
        heartbeat: the sweeper process turns heartbeats on (and the retry of stale trials); a job
            only reads and reports, so it leaves them off.

    Returns:
        An `optuna.storages.RDBStorage`.
    """
    import optuna

    url = str(sweep_cfg.storage)
    if "://" not in url:
        raise ValueError(
            f"sweep.storage must be an SQLAlchemy URL such as sqlite:////abs/path/optuna.db or "
            f"postgresql://user@host/db, got {url!r}"
        )
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        raise ValueError(f"sweep.storage must be an absolute SQLite path (sqlite:////...), got {url!r}")
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several workers share one file: wait for the lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    hb = sweep_cfg.heartbeat
    if heartbeat and hb.interval:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        kwargs = {
            "heartbeat_interval": int(hb.interval),
            "grace_period": int(hb.grace_period or 2 * int(hb.interval)),
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                max_retry=hb.max_retry
            ),
        }
    import time
    import warnings

    from sqlalchemy.exc import SQLAlchemyError

    # Workers started together on a fresh database race to create Optuna's tables (PostgreSQL:
    # "duplicate key ... pg_type"): the loser retries and then finds the tables in place.
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def make_sampler(sweep_cfg: Any):
    """The sampler named by `sweep.sampler.name` (tpe | random), seeded by `sweep.sampler.seed`."""
    import optuna

    spec = sweep_cfg.sampler
    name, seed = str(spec.name), spec.seed
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=int(spec.n_startup_trials)
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"Unknown sweep.sampler.name {name!r}. Known: {', '.join(SamplerName)}")


def make_pruner(sweep_cfg: Any):
    """The pruner named by `sweep.pruner.name`.

    Steps are epoch indices as the trainer reports them (0-based), so `warmup_epochs: 4` means the
    first pruning decision is taken on the 5th epoch.
    """
    import optuna

    spec = sweep_cfg.pruner
    name, warmup = str(spec.name), int(spec.warmup_epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=int(spec.n_startup_trials), n_warmup_steps=warmup
        )
    if name == "percentile":  # like median, but only the top `percentile` % keep training
        return optuna.pruners.PercentilePruner(
            float(spec.percentile),
            n_startup_trials=int(spec.n_startup_trials),
            n_warmup_steps=warmup,
        )
    if name == "threshold":
        lower, upper = spec.lower, spec.upper
        if lower is None and upper is None:
            raise ValueError("sweep.pruner.name=threshold needs sweep.pruner.lower or .upper")
        return optuna.pruners.ThresholdPruner(lower=lower, upper=upper, n_warmup_steps=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=int(spec.min_resource),
            max_resource=spec.max_resource,
            reduction_factor=int(spec.reduction_factor),
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"Unknown sweep.pruner.name {name!r}. Known: {', '.join(PrunerName)}")


def direction(sweep_cfg: Any) -> str:
    """`maximize` or `minimize` (the schema refuses anything else: a typo must not flip the optimisation)."""
    return str(sweep_cfg.direction)


def open_study(sweep_cfg: Any, *, create: bool = False, heartbeat: bool = False):
    """Load (or, with `create`, create-or-load) the study `sweep.study_name` in `sweep.storage`."""
    import optuna

    name = sweep_cfg.study_name
    if not name:
        raise ValueError("sweep.study_name is empty")
    storage = make_storage(sweep_cfg, heartbeat=heartbeat)
    sampler, pruner = make_sampler(sweep_cfg), make_pruner(sweep_cfg)
    if create:
        return optuna.create_study(
            study_name=str(name),
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction=direction(sweep_cfg),
            load_if_exists=True,
        )
    try:
        return optuna.load_study(study_name=str(name), storage=storage, sampler=sampler, pruner=pruner)
    except KeyError as exc:
        raise KeyError(f"No Optuna study {name!r} in {sweep_cfg.get('storage')}") from exc


def reseed_for_trial(sampler, seed: int | None, number: int) -> None:
    """Reseed the sampler's random state from (seed, trial number) right before a trial samples.

    With one fixed seed, two workers would draw the same random start-up parameters; deriving the
    state from the trial number keeps a sweep reproducible and makes every trial differ.
    Uses the samplers' `_rng` (Optuna's LazyRandomState): there is no public per-trial seed.
    """
    if seed is None:
        return
    value = (int(seed) * 1_000_003 + int(number)) % 2**32
    for owner in (sampler, getattr(sampler, "_random_sampler", None)):
        state = getattr(owner, "_rng", None)
        if state is not None and hasattr(state, "rng"):
            state.rng.seed(value)
