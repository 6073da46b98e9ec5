"""Backbone registry as data: `model.name` -> `BackboneSpec` (constructor, family, size, Grad-CAM layer).

Adding a backbone is one entry in its family file; the parametrized test in tests/models runs over
every entry. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from melanoma_exp.models import densenet, efficientnet_lite, efficientnetv2, resnetv2
from melanoma_exp.models.spec import BackboneSpec

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for family in (efficientnetv2, resnetv2, densenet, efficientnet_lite)
    for spec in family.SPECS
}

FAMILIES = ("efficientnetv2", "resnetv2", "densenet", "efficientnet_lite")


class UnknownModelError(ValueError):
    """`model.name` is not in the registry."""


def get_backbone(name: str) -> BackboneSpec:
    """Return the spec for `name`, or raise an error that lists every known name.

    Args:
        name: a `model.name` value, e.g. ``densenet201``.

    Raises:
        UnknownModelError: the name is not registered.
    """
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(BACKBONES)
        raise UnknownModelError(f"Unknown model '{name}' (model.name). Known: {known}") from None
