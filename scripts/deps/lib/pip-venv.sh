# Shared by the scripts/deps/*.sh that install a pinned PyPI client into its own virtual
# environment (sourced, not run; setup-test-deps only runs scripts/deps/*.sh).
#
#   ensure_pip_venv LOG_NAME VENV REQUIREMENT IMPORT_CHECK
#
# Creates VENV and installs REQUIREMENT (e.g. `mcp==1.30.0`) unless VENV's python already
# passes IMPORT_CHECK (a Python statement). Logs go to stderr; fails when the package does
# not import after installation.
ensure_pip_venv() {
    local log_name=$1 venv=$2 requirement=$3 import_check=$4
    local python="$venv/bin/python"
    _installed() { [ -x "$python" ] && "$python" -c "$import_check" >/dev/null 2>&1; }
    if _installed; then
        echo "$log_name: $requirement already installed in $venv" >&2
        return 0
    fi
    echo "$log_name: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    echo "$log_name: installing $requirement from PyPI" >&2
    "$python" -m pip install --quiet --disable-pip-version-check "$requirement" >&2
    if ! _installed; then
        echo "$log_name: $requirement does not import after installation" >&2
        return 1
    fi
    echo "$log_name: installed in $venv" >&2
}
