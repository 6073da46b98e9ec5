"""Human-readable summaries of prepared datasets (CLI, demo)."""

from __future__ import annotations

from pathlib import Path

from melanoma_exp import DISCLAIMER
from melanoma_exp.data.prepare import read_manifest
from melanoma_exp.data.split import SPLITS


def describe_prepared(prepared_dir: Path, disclaimer: bool = True) -> str:
    """Counts per split and class, exclusions with reasons, settings, and (optionally) the disclaimer."""
    m = read_manifest(prepared_dir)
    lines = [
        f"prepared dataset: {prepared_dir}",
        f"  source {m['source']}, {m['image_size']} px RGB uint8 (centre-crop + resize), seed {m['seed']}",
        f"  split grouped by {m['split']['group_by']} (no group in two splits), stratified by label",
        f"  {'split':<6} {'benign':>7} {'malignant':>10} {'total':>7} {'malignant %':>12}",
    ]
    for split in SPLITS:
        c = m["counts"][split]
        share = 100 * c["malignant"] / max(1, c["total"])
        lines.append(f"  {split:<6} {c['benign']:>7} {c['malignant']:>10} {c['total']:>7} {share:>11.1f}%")
    if m["excluded"]:
        lines.append(f"  excluded {m['excluded_total']} (details and ids in manifest.json):")
        for reason, info in m["excluded"].items():
            lines.append(f"    {reason}: {info['count']}")
    else:
        lines.append("  excluded: none")
    if disclaimer:
        lines.append(f"Note: {DISCLAIMER}")
    return "\n".join(lines)
