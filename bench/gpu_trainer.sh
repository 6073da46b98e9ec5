#!/usr/bin/env bash
# The real trainer on a real GPU (issue 17): `python run.py` itself, Keras on JAX, mixed precision,
# beside bench/gpu_benchmark.py's bare step at the same batch and precision. One short call.
#
#   bash bench/gpu_trainer.sh --fetch    # where PyPI is reachable: the wheels a JAX-only GPU box lacks
#                                        # -> bench/wheels/ (git-ignored; ~5 MB; carry it along)
#   bash bench/gpu_trainer.sh [ARGS]     # on the GPU box: installs what is missing from bench/wheels
#                                        # (no network), then python -m bench.gpu_trainer ARGS
#                                        # (default: B3, 224 px, batch 64, 8000 images, 4 epochs);
#                                        # the section goes to $OUT/gpu_trainer.md when $OUT is set
# PY picks the interpreter (default python3). Nothing needs TensorFlow.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WHEELS=bench/wheels
# Pure-Python or per-platform wheels the project needs beyond a JAX + SciPy + pandas + scikit-learn +
# matplotlib + Pillow image, at the versions requirements.lock pins.
PACKAGES="keras namex optree hydra-core omegaconf antlr4-python3-runtime google-crc32c"

if [[ "${1:-}" == "--fetch" ]]; then
  mkdir -p "$WHEELS"
  TARGET_PY=${TARGET_PY:-3.12}   # the GPU box's Python (docs of the device: 3.12)
  for name in $PACKAGES; do
    pkg=$(grep -i "^${name}==" requirements.lock) || { echo "$name is not pinned in requirements.lock"; exit 1; }
    "$PY" -m pip download --quiet --no-deps --dest "$WHEELS" --only-binary=:all: --python-version "$TARGET_PY" \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 "$pkg" \
      || "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELS" "$pkg"   # sdist-only (antlr4): build it here
  done
  ls -la "$WHEELS"
  exit 0
fi

missing=$("$PY" - <<'PY'
import importlib.util
need = {"keras": "keras", "hydra": "hydra-core", "omegaconf": "omegaconf", "antlr4": "antlr4-python3-runtime",
        "google_crc32c": "google-crc32c", "optree": "optree", "namex": "namex", "jax": None, "pandas": None,
        "sklearn": None, "matplotlib": None, "PIL": None, "scipy": None, "tqdm": None, "yaml": None}
gone = [(mod, pkg) for mod, pkg in need.items() if importlib.util.find_spec(mod) is None]
fatal = [mod for mod, pkg in gone if pkg is None]
if fatal:
    raise SystemExit(f"this interpreter lacks {fatal}: use one with JAX and the scientific stack (PY=...)")
print(" ".join(pkg for _, pkg in gone))
PY
)
if [[ -n "$missing" ]]; then
  [[ -d "$WHEELS" ]] || { echo "missing: $missing; no $WHEELS to install from (run --fetch where PyPI is reachable)"; exit 1; }
  "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" $missing
fi
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
args=("$@")
if [[ -n "${OUT:-}" ]]; then args+=(--out "$OUT/gpu_trainer.md"); fi
"$PY" -m bench.gpu_trainer "${args[@]}"
