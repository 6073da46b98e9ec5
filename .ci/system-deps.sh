#!/usr/bin/env bash
# The system tools the test suite uses, checked in seconds; installed from Debian's packages as root.
#
#   bash .ci/system-deps.sh            # install what is missing (root on Debian), else name it and exit 1
#   bash .ci/system-deps.sh --check    # only check: name what is missing, exit 1; never install
#   bash .ci/system-deps.sh --warn     # only check, and say so without failing (used by `make setup`)
#
# CI (.ci/run) and `make test` run this same script. Each line below: what the suite needs, how it is
# found (a command on PATH or a file), and the Debian package that provides it.
set -uo pipefail
mode=${1:-install}

TOOLS=(
  # what                        found by                                         Debian package
  "Chromium                     cmd:chromium                                     chromium"
  "ChromeDriver                 cmd:chromedriver                                 chromium-driver"
  "Java (JDK)                   cmd:java                                         default-jdk-headless"
  "JUnit 4                      file:/usr/share/java/junit4.jar                  junit4"
  "Android's org.json           file:/usr/share/java/com.android.json.jar        libandroid-json-java"
  "aapt2                        cmd:aapt2                                        aapt"
  "Android framework resources  file:/usr/share/android-framework-res/framework-res.apk  android-framework-res"
  "npm (installs kotlinc)       cmd:npm                                          npm"
)
# PostgreSQL: the sweep tests need a server; an external one given by MELANOMA_TEST_POSTGRES_URL will do.
if [ -z "${MELANOMA_TEST_POSTGRES_URL:-}" ]; then
  TOOLS+=("PostgreSQL server            cmd:pg_ctlcluster                                postgresql")
fi

missing_names=()
missing_pkgs=()
check() {
  missing_names=()
  missing_pkgs=()
  local line what probe pkg
  for line in "${TOOLS[@]}"; do
    what=$(sed -E 's/ {2,}.*//' <<<"$line")
    probe=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(cmd|file):/) print $i}' <<<"$line")
    pkg=$(awk '{print $NF}' <<<"$line")
    case "$probe" in
      cmd:*) command -v "${probe#cmd:}" >/dev/null 2>&1 && continue ;;
      file:*) [ -f "${probe#file:}" ] && continue ;;
    esac
    missing_names+=("$what (${probe#*:})")
    missing_pkgs+=("$pkg")
  done
}

report() {  # $1: the word before the list
  echo "$1 the test suite needs system tools that are not installed:" >&2
  printf '  - %s\n' "${missing_names[@]}" >&2
  echo "Install them (Debian/Ubuntu, as root) with:" >&2
  echo "  sudo bash .ci/system-deps.sh      # = apt-get install ${missing_pkgs[*]}" >&2
}

check
if [ ${#missing_pkgs[@]} -eq 0 ]; then
  [ "$mode" = "--warn" ] || echo "system tools for the tests: all present"
  exit 0
fi
case "$mode" in
  --warn) report "note:"; exit 0 ;;
  --check) report "error:"; exit 1 ;;
esac
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  report "error:"
  exit 1
fi
echo "installing system tools for the tests: ${missing_pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
check
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  report "error: after apt-get install,"
  exit 1
fi
echo "system tools for the tests: all present"
