#!/usr/bin/env bash
# System packages the test-suite uses (Debian). Idempotent; needs root (as in CI).
set -euo pipefail
PKGS=(
  postgresql            # Optuna RDB storage shared by several sweep workers
  chromium chromium-driver  # the browser client test
  junit4 libandroid-json-java default-jdk-headless  # Kotlin core tests (org.json as on Android)
  aapt android-framework-res  # aapt2 links the app's manifest/resources against the framework
)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "need root to install: ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kotlinc comes from npm (mobile/package.json); Node.js ships with the machine. Only when it is missing
# fall back to Debian's (older) nodejs + npm.
if ! command -v npm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "system deps present: ${PKGS[*]} npm"
