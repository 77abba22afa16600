#!/usr/bin/env bash
# Screenshot of a built bundle's window on a real X server (Xvfb), as a user's desktop would show it:
#
#   packaging/linux/screenshot_xvfb.sh dist/fewlens-cpu docs/bundle-linux-xvfb.png
#
# Needs Debian's xvfb, xdotool and imagemagick (`apt-get install xvfb xdotool imagemagick`) and Qt's xcb libraries
# (libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 ...; the bundle's Qt loads them).
# The project: the bundle's own sample photos, 3 labeled per class, the rest unlabeled (predicted).
# Empty config/cache/data folders, as a new user's first start.
set -euo pipefail
bundle=$(cd "$1" && pwd)
out=$(realpath -m "$2")
delay=${FEWLENS_SHOT_DELAY_S:-40}
work=$(mktemp -d /tmp/fewlens-xvfb-XXXXXX)
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
export FEWLENS_CACHE_DIR=$work/cache FEWLENS_CONFIG_DIR=$work/config FEWLENS_DATA_DIR=$work/data
mkdir -p "$work/photos" "$FEWLENS_CONFIG_DIR"
touch "$FEWLENS_CONFIG_DIR/welcome-shown"  # the first-run welcome would cover the window
for d in "$bundle"/_internal/assets/sample/images/*/; do
    name=$(basename "$d"); mkdir -p "$work/photos/$name"; n=0
    for f in "$d"*; do
        if [ $n -lt 3 ]; then cp "$f" "$work/photos/$name/"; else cp "$f" "$work/photos/${name}_$(basename "$f")"; fi
        n=$((n + 1))
    done
done
"$bundle/fewlens" project create "$work/sample.fewlens" --from "$work/photos" --embed
display=:${FEWLENS_XVFB_DISPLAY:-97}
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp & xvfb=$!
sleep 2
DISPLAY=$display QT_QPA_PLATFORM=xcb "$bundle/fewlens" gui "$work/sample.fewlens" & app=$!
sleep "$delay"
kill -0 $app  # still running: it opened and did not crash
# the app's own window (xdotool finds it by title), as a desktop shows it; the whole screen without xdotool
win=$(DISPLAY=$display xdotool search --onlyvisible --name FewLens 2>/dev/null | tail -1 || true)
DISPLAY=$display import -window "${win:-root}" "$out"
echo "saved $out (Xvfb $display, bundle $bundle)"
