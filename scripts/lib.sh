# Shared set-up steps for scripts/run and scripts/test (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: install the Debian packages that are missing (one apt run at most).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "==> installing Debian packages: ${missing[*]}"
        # Another install on this machine (a second checkout's tests) holds dpkg's lock for a
        # while: wait for it rather than fail.
        as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=900 install \
            -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# python_env EXTRAS: a virtualenv in .venv with the project installed (editable).
python_env() {
    local extras="$1"
    command -v python3 >/dev/null 2>&1 || apt_install python3
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV"
        python3 -m venv "$VENV"
    fi
    echo "==> installing the hotline package${extras:+ with [$extras]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" \
        2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c 'import hotline' # fail loudly if the install did not work
}
