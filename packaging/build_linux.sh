#!/usr/bin/env bash
# Build syncdesk as a one-folder Linux app in a fresh venv, check what is inside, smoke-test it.
#
#   packaging/build_linux.sh [WORK_DIR]        (default: /tmp/syncdesk-bundle)
#
# WORK_DIR gets venv/, build/, dist/syncdesk/ (the bundle) and smoke/; it must be new or a folder this
# script made before. Environment:
#   PYTHON           interpreter for the venv (default python3)
#   TORCH_SPEC       torch requirement, installed first (default torch==2.13.0)
#   TORCH_INDEX_URL  where to get it; PyPI's Linux torch is the CUDA build, so for a CPU bundle use
#                    https://download.pytorch.org/whl/cpu (unset: pip's configured index)
#   EXAMPLE_VIDEO    clip for the analysis smoke test (default: ../shared/data/example.avi)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(realpath -m "${1:-/tmp/syncdesk-bundle}")
MARK="$WORK/.syncdesk-build"
if [ -e "$WORK" ] && [ ! -e "$MARK" ] && [ -n "$(ls -A "$WORK")" ]; then
    echo "build_linux.sh: $WORK is not empty and was not made by this script; give a new folder" >&2
    exit 1
fi
mkdir -p "$WORK" && touch "$MARK"
VENV="$WORK/venv" BUNDLE="$WORK/dist/syncdesk" SMOKE="$WORK/smoke"
rm -rf "$VENV" "$WORK/build" "$WORK/dist" "$SMOKE"
mkdir -p "$SMOKE"

step() { printf '\n== %s\n' "$*"; }

step "venv and dependencies ($WORK/venv)"
"${PYTHON:-python3}" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --quiet)
"${PIP[@]}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "${TORCH_SPEC:-torch==2.13.0}"
"${PIP[@]}" "$ROOT" pyinstaller   # a regular install: the bundle gets exactly what the wheel ships

step "pyinstaller"
start=$(date +%s)
(cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$WORK/dist" --workpath "$WORK/build" "$ROOT/packaging/syncdesk.spec")
echo "built in $(( $(date +%s) - start )) s: $BUNDLE"

step "desktop integration files ($BUNDLE/share)"
APP_ID=io.github.syncdesk.Syncdesk
install -Dm644 "$ROOT/packaging/$APP_ID.desktop" "$BUNDLE/share/applications/$APP_ID.desktop"
install -Dm644 "$ROOT/packaging/$APP_ID.metainfo.xml" "$BUNDLE/share/metainfo/$APP_ID.metainfo.xml"
install -Dm644 "$ROOT/resources/icon.svg" "$BUNDLE/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in "$ROOT"/resources/icons/syncdesk-*.png; do
    size=${png##*-}; size=${size%.png}
    install -Dm644 "$png" "$BUNDLE/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$BUNDLE/share/applications/$APP_ID.desktop"; fi
if command -v appstreamcli >/dev/null; then appstreamcli validate --no-net "$BUNDLE/share/metainfo/$APP_ID.metainfo.xml"; fi

step "contents: no weights, no CUDA, the data the app needs"
"$VENV/bin/python" "$ROOT/packaging/bundle_rules.py" "$BUNDLE"

# seconds taken by a command, run three times; prints the median (output of the runs goes to $SMOKE/log)
median_of_3() {
    local times=() t0
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$@" >>"$SMOKE/log" 2>&1
        times+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

step "smoke tests (data dir: $SMOKE/data)"
export SYNCDESK_DATA_DIR="$SMOKE/data"
"$BUNDLE/syncdesk" --version
echo "--version: median $(median_of_3 "$BUNDLE/syncdesk" --version) s"

VIDEO=${EXAMPLE_VIDEO:-$ROOT/../shared/data/example.avi}
if [ -f "$VIDEO" ]; then
    "$VENV/bin/python" -c "import sys, torch; from syncdesk.core.sync.synthetic import random_state_dict; \
torch.save(random_state_dict(0), sys.argv[1])" "$SMOKE/random.model"
    ANALYZE=("$BUNDLE/syncdesk" analyze "$VIDEO" --detector whole-frame --weights "$SMOKE/random.model" --quiet)
    "${ANALYZE[@]}" --json "$SMOKE/analysis.json"
    echo "analyze (random weights): median $(median_of_3 "${ANALYZE[@]}") s"
else
    echo "no $VIDEO: analysis smoke test skipped (set EXAMPLE_VIDEO)"
fi

QT_QPA_PLATFORM=offscreen "$BUNDLE/syncdesk" gui --screenshot "$SMOKE/window.png"
test -s "$SMOKE/window.png" && echo "gui --screenshot (empty window): $SMOKE/window.png"
echo "gui --screenshot (start-up to picture): median $(QT_QPA_PLATFORM=offscreen median_of_3 "$BUNDLE/syncdesk" gui --screenshot "$SMOKE/window.png") s"
if [ -f "$VIDEO" ]; then
    QT_QPA_PLATFORM=offscreen "$BUNDLE/syncdesk" gui "$VIDEO" --detector whole-frame --weights "$SMOKE/random.model" \
        --screenshot "$SMOKE/analysed.png"
    test -s "$SMOKE/analysed.png" && echo "gui VIDEO --screenshot (analysed): $SMOKE/analysed.png"
fi

step "size"
du -sh "$BUNDLE"
echo "largest parts:"
du -sh "$BUNDLE"/_internal/* | sort -rh | head -10
