"""Human-readable summaries of prepared datasets (CLI, demo)."""

from __future__ import annotations

from pathlib import Path

from melanoma_exp import DISCLAIMER
from melanoma_exp.data.layout import read_metadata
from melanoma_exp.data.prepare import MANIFEST, expected_prepared_folder, read_manifest
from melanoma_exp.data.split import SPLITS


def describe_prepared(prepared_dir: Path, disclaimer: bool = True) -> str:
    """Counts per split and class, exclusions with reasons, settings, and (optionally) the disclaimer."""
    m = read_manifest(prepared_dir)
    lines = [
        f"prepared dataset: {prepared_dir}",
        f"  source {m['source']}: {m.get('kind', m['source'])}, {m['image_size']} px RGB uint8 "
        f"(centre-crop + resize), seed {m['seed']}",
        f"  split stratified by label; {_grouping_note(m)}",
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


def _grouping_note(manifest: dict) -> str:
    """The manifest's grouping note (older manifests: grouped by the configured key)."""
    grouping = manifest.get("grouping")
    if grouping:
        return grouping["note"]
    return f"grouped by {manifest['split']['group_by']} (no group in two splits)"


def data_banner(data_cfg) -> str:
    """One line naming the data a run or sweep trains on: source, image count, prepared folder.

    Cheap and side-effect free (nothing is generated or prepared): the count comes from the
    prepared folder's manifest when it already exists, else the line says "not prepared yet".
    Never raises; a config it cannot read still gets a line.
    """
    from omegaconf import DictConfig, OmegaConf

    try:
        cfg = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else dict(data_cfg)
        source = cfg.get("source", "?")
        raw_dir = Path(str(cfg.get("raw_dir"))).expanduser().resolve()
        root = Path(str(cfg.get("prepared_root"))).expanduser().resolve()
    except Exception as exc:  # the banner must never stop a run
        return f"[data] (could not read the data config: {exc})"
    head = f"[data] source {source}, {cfg.get('image_size')} px"
    try:
        if not (raw_dir / "metadata.csv").is_file():
            what = "generated from data.synth at the start" if source == "synthetic" and cfg.get("synth") \
                else "missing"
            return (f"{head}, not prepared yet: {raw_dir} ({what}); "
                    f"prepared folder under {root}")
        folder = expected_prepared_folder(cfg)
        if (folder / MANIFEST).is_file():
            total = read_manifest(folder).get("total")
            return f"{head}, {total} images, prepared folder {folder}"
        return (f"{head}, not prepared yet: {raw_dir} ({len(read_metadata(raw_dir))} raw images); "
                f"prepared folder {folder}")
    except Exception as exc:
        return f"{head}, raw {raw_dir}, prepared folder under {root} (not inspected: {exc})"
