"""The allowed values of config keys that name a method, shared by the config check and the code
that implements them (so the two cannot drift apart)."""

from __future__ import annotations

THRESHOLD_METHODS = ("target_sensitivity", "youden", "f_beta")  # eval.threshold_method
TTA_TRANSFORMS = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "antitranspose")
