"""The search space, written with Hydra's own sweep syntax and turned into Optuna suggestions.

    data.batch_size: choice(16, 32, 64)          -> categorical
    optimizer: choice(adam, sgd)                 -> categorical config-group choice
    head.dropout1: interval(0.1, 0.5)            -> float
    head.units: int(interval(64, 1024))          -> int
    optimizer.learning_rate: tag(log, interval(1e-5, 1e-2))   -> float, log scale
    head.layers: range(1, 4)                     -> int 1..3 (stop excluded, as in Hydra)

A parameter may carry a condition (`conditions: {head.units2: head.second_dense}`): it is only
suggested when the named parameter was suggested truthy (or equal to the value after `=`); otherwise
the job keeps the config's default and the trial records no value for it.

A key whose expression is null is not searched: a sweep config built on another (`defaults: [optuna]`)
drops a key of its base's space that way (`head.units: null`), and the key's condition with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One searched key with its Optuna distribution and optional condition."""

    name: str
    distribution: Any  # optuna.distributions.BaseDistribution
    condition: tuple[str, str | None] | None = None  # (other key, required value or None=truthy)


def _distribution(name: str, expression: str):
    """Parse `expression` (Hydra sweep syntax) into an Optuna distribution."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    try:
        override = OverridesParser.create().parse_overrides([f"{name}={expression}"])[0]
    except Exception as exc:  # Hydra's message says which part of the grammar failed
        raise ValueError(f"Search space key {name!r}: cannot parse {expression!r}: {exc}") from exc
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop, step=value.step)
        return IntDistribution(int(value.start), int(value.stop) - int(value.step), step=int(value.step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ValueError(
        f"Search space key {name!r}: {expression!r} is a fixed value, not a sweep; use choice(...), "
        "interval(a, b), int(interval(a, b)), tag(log, interval(a, b)) or range(a, b)"
    )


def _condition(name: str, text: str) -> tuple[str, str | None]:
    key, _, value = str(text).partition("=")
    return key.strip(), (value.strip() if value else None)


def parse_space(
    params: Mapping[str, Any] | None, conditions: Mapping[str, Any] | None = None
) -> list[Param]:
    """Build the ordered list of `Param`s from YAML mappings (key -> sweep expression; null: not searched)."""
    dropped = {name for name, expression in dict(params or {}).items() if expression is None}
    params = {name: expression for name, expression in dict(params or {}).items() if name not in dropped}
    conditions = {name: parent for name, parent in dict(conditions or {}).items()
                  if name not in dropped and parent is not None}
    unknown = sorted(set(conditions) - set(params))
    if unknown:
        raise ValueError(f"sweep conditions name keys that are not searched: {', '.join(unknown)}")
    space = []
    for name, expression in params.items():
        cond = _condition(name, conditions[name]) if name in conditions else None
        if cond and cond[0] not in params:
            raise ValueError(f"Condition of {name!r} refers to {cond[0]!r}, which is not searched")
        space.append(Param(str(name), _distribution(str(name), str(expression)), cond))
    return space


def split_arguments(arguments: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Split command-line overrides into fixed ones and sweep expressions (which join the space)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed, swept = [], {}
    for text in arguments:
        override = parser.parse_overrides([text])[0]
        if override.is_sweep_override():
            swept[override.get_key_element()] = text.split("=", 1)[1]
        else:
            fixed.append(text)
    return fixed, swept


def _is_truthy(value: Any) -> bool:
    return str(value).lower() not in ("false", "0", "none", "null", "")


def suggest(trial: Any, space: list[Param]) -> dict[str, Any]:
    """Ask `trial` for a value of every active parameter, in order; returns key -> value."""
    values: dict[str, Any] = {}
    for param in space:
        if param.condition:
            key, wanted = param.condition
            if key not in values:
                continue
            active = _is_truthy(values[key]) if wanted is None else str(values[key]) == wanted
            if not active:
                continue
        values[param.name] = _suggest_one(trial, param)
    return values


def _suggest_one(trial: Any, param: Param) -> Any:
    """Dispatch to the public `trial.suggest_*` matching the distribution."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dist = param.distribution
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(param.name, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(param.name, dist.low, dist.high, step=dist.step, log=dist.log)


def format_value(value: Any) -> str:
    """A suggested value as Hydra override text (`true`, `null`, `0.001`, `adam`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_overrides(values: Mapping[str, Any]) -> list[str]:
    """`{"head.units": 128}` -> `["head.units=128"]`."""
    return [f"{key}={format_value(value)}" for key, value in values.items()]
