"""Images saved with the ISIC archive's old API (v1 JSON per image) -> isic-cli's layout (contract 1).

The archive's API v1 returned one JSON per image (`name`, `meta.clinical.benign_malignant`,
`diagnosis`, `age_approx`, `sex`, `melanocytic`, `diagnosis_confirm_type`,
`meta.acquisition.image_type`). isic-cli and the current archive (API v2) write `metadata.csv` with
`diagnosis_1..5` from the archive's diagnosis hierarchy instead. This converts the former into the
latter, so such a folder is one more source that prepare cannot tell from a download:

    melanoma data import-v1 ../shared/data/isic-uda1 --out samples/isic_uda1 --max-side 512

Every diagnosis path written is checked against the official hierarchy that isic-cli's dependency
`isic_metadata` ships. Images are re-encoded (EXIF dropped) and, with `max_side`, downscaled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from melanoma_exp.data.layout import write_layout_metadata

# v1 `benign_malignant` -> v2 `diagnosis_1` (anything else, or nothing, -> Indeterminate / empty)
DIAGNOSIS_1 = {"benign": "Benign", "malignant": "Malignant", "indeterminate": "Indeterminate",
               "indeterminate/benign": "Indeterminate", "indeterminate/malignant": "Indeterminate"}
# v1 `diagnosis` -> (diagnosis_1, diagnosis_2, diagnosis_3) in the v2 hierarchy. v1 says "melanoma"
# without invasive / in situ, so level 3 is the hierarchy's "Melanoma, NOS".
DIAGNOSIS_PATHS = {
    "nevus": ("Benign", "Benign melanocytic proliferations", "Nevus"),
    "melanoma": ("Malignant", "Malignant melanocytic proliferations (Melanoma)", "Melanoma, NOS"),
}
# v1 clinical / acquisition keys copied unchanged (isic-cli writes the same names)
COPIED = {"clinical": ("age_approx", "sex", "melanocytic", "diagnosis_confirm_type"),
          "acquisition": ("image_type",)}
LICENSES = {"CC0": "CC-0", "CC-0": "CC-0", "CC BY-NC": "CC-BY-NC", "CC BY": "CC-BY"}
ATTRIBUTION_FILE = "ATTRIBUTION.txt"


class V1FormatError(ValueError):
    """A v1 record or the source folder is not what the converter expects; the message names it."""


def check_hierarchy(path: tuple[str, ...]) -> None:
    """Raise unless `path` (diagnosis_1, _2, ...) is a node of the archive's diagnosis hierarchy."""
    from isic_metadata.diagnosis_hierarchical import DiagnosisEnum

    node = ":".join(path)
    if node not in {member.value for member in DiagnosisEnum}:
        raise V1FormatError(f"diagnosis path {node!r} is not in isic_metadata's hierarchy")


def v1_row(record: dict, attribution: str, license_: str) -> dict:
    """One v1 JSON record -> one metadata.csv row (isic-cli's column names).

    Raises:
        V1FormatError: no `name`, or `benign_malignant` contradicts `diagnosis`.
    """
    isic_id = record.get("name")
    if not isic_id:
        raise V1FormatError(f"v1 record without 'name' (keys: {', '.join(record)})")
    meta = record.get("meta", {})
    clinical = meta.get("clinical", {})
    row = {"isic_id": isic_id, "attribution": attribution, "copyright_license": license_}
    benign_malignant = clinical.get("benign_malignant")
    row["diagnosis_1"] = DIAGNOSIS_1.get(str(benign_malignant).lower(), "") if benign_malignant else ""
    diagnosis = clinical.get("diagnosis")
    path = DIAGNOSIS_PATHS.get(str(diagnosis).lower()) if diagnosis else None
    if diagnosis and path is None:
        raise V1FormatError(f"{isic_id}: v1 diagnosis {diagnosis!r} has no mapping (known: "
                            f"{', '.join(DIAGNOSIS_PATHS)}); add it to DIAGNOSIS_PATHS")
    if path:
        if row["diagnosis_1"] and row["diagnosis_1"] != path[0]:
            raise V1FormatError(f"{isic_id}: benign_malignant={benign_malignant!r} contradicts "
                                f"diagnosis={diagnosis!r}")
        check_hierarchy(path)
        row.update(zip(("diagnosis_1", "diagnosis_2", "diagnosis_3"), path, strict=True))
    for section, keys in COPIED.items():
        for key in keys:
            value = meta.get(section, {}).get(key)
            if value is not None:
                row[key] = value
    return row


def read_attribution(src: Path) -> tuple[str, str]:
    """(attribution, licence) from the collection's ATTRIBUTION.txt ("<collection> by <who>", CC0...)."""
    path = Path(src) / ATTRIBUTION_FILE
    if not path.is_file():
        raise V1FormatError(f"no {ATTRIBUTION_FILE} in {src}: the collection's attribution and licence "
                            "must travel with its images")
    text = path.read_text(encoding="utf8")
    first = text.strip().splitlines()[0]
    match = re.match(r".+? by (.+)$", first)
    license_ = next((v for k, v in LICENSES.items() if k in text), None)
    if not match or not license_:
        raise V1FormatError(f"{path}: expected a first line '<collection> by <who>' and a licence "
                            f"({', '.join(LICENSES)}) in the text")
    return match.group(1).strip(), license_


def v1_records(src: Path) -> list[dict]:
    """Every `ISIC_*.json` of `src`, sorted by name."""
    files = sorted(Path(src).glob("*.json"))
    if not files:
        raise V1FormatError(f"no v1 JSON files (ISIC_xxxxxxx.json) in {src}")
    return [json.loads(f.read_text(encoding="utf8")) for f in files]


def metadata_rows(src: Path, json_dir: Path | None = None) -> list[dict]:
    """The metadata.csv rows for the v1 folder `src` (its ATTRIBUTION.txt and the JSON in `json_dir`,
    default `src`)."""
    attribution, license_ = read_attribution(src)
    return [v1_row(record, attribution, license_) for record in v1_records(json_dir or src)]


def import_v1_folder(src: Path, out: Path, max_side: int | None = None, quality: int = 90,
                     keep_json: bool = True, progress: bool = True) -> Path:
    """Write `out` in isic-cli's layout from the v1 folder `src`.

    Args:
        src: folder of `ISIC_xxxxxxx.jpg` + `ISIC_xxxxxxx.json` + ATTRIBUTION.txt.
        out: output folder (created).
        max_side: downscale so the longer side is at most this (Lanczos); None keeps the size.
        quality: JPEG quality of the re-encoded images.
        keep_json: also copy the v1 JSON into `out/v1/` (so the conversion can be checked later).

    Returns:
        `out`.
    """
    from PIL import Image, ImageOps
    from tqdm.auto import tqdm

    src, out = Path(src), Path(out)
    rows = metadata_rows(src)
    out.mkdir(parents=True, exist_ok=True)
    if keep_json:
        (out / "v1").mkdir(exist_ok=True)
    for row in tqdm(rows, desc="importing", unit="img", disable=not progress):
        isic_id = row["isic_id"]
        image = src / f"{isic_id}.jpg"
        if not image.is_file():
            raise V1FormatError(f"{image} is missing (its JSON is in {src})")
        with Image.open(image) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            if max_side and max(img.size) > max_side:
                scale = max_side / max(img.size)
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
            img.save(out / f"{isic_id}.jpg", quality=quality)
        if keep_json:
            (out / "v1" / f"{isic_id}.json").write_bytes((src / f"{isic_id}.json").read_bytes())
    attribution_text = (src / ATTRIBUTION_FILE).read_text(encoding="utf8")
    (out / ATTRIBUTION_FILE).write_text(attribution_text, encoding="utf8")
    write_layout_metadata(out, rows, attribution=rows[0]["attribution"],
                          license_=rows[0]["copyright_license"], license_text=attribution_text)
    return out
