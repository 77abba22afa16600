#!/bin/sh
# Per-user desktop integration for an unpacked FewLens bundle (no root needed):
#   ./install.sh              menu entry, icon, *.fewlens opens in FewLens
#   ./install.sh --uninstall  removes them again (the bundle folder itself is yours to delete)
# Files go under ${XDG_DATA_HOME:-~/.local/share}: applications/, icons/hicolor/, mime/packages/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
app="$data/applications/fewlens.desktop"
mime="$data/mime/packages/fewlens.xml"
svg="$data/icons/hicolor/scalable/apps/fewlens.svg"
png="$data/icons/hicolor/256x256/apps/fewlens.png"
mimeicon="$data/icons/hicolor/scalable/mimetypes/application-x-fewlens-project.svg"

refresh() {  # each tool is optional: desktops pick the files up at next login without them
    command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$data/mime" || true
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$app" "$mime" "$svg" "$png" "$mimeicon"
    refresh
    echo "FewLens: menu entry, icon and file type removed"
    exit 0
fi

# the executable: beside this script in the unpacked archive, or in dist/fewlens-*/ in a checkout
exe=""
for c in "$here/fewlens" "$here"/fewlens-*/fewlens "$here"/../../dist/fewlens-*/fewlens; do
    [ -x "$c" ] && { exe=$(cd "$(dirname "$c")" && pwd)/fewlens; break; }
done
[ -n "$exe" ] || { echo "install.sh: no fewlens executable found next to $here" >&2; exit 1; }
case "$exe" in *[[:space:]]*) echo "install.sh: move the bundle to a folder without spaces in its path ($exe)" >&2; exit 1;; esac

mkdir -p "$(dirname "$app")" "$(dirname "$mime")" "$(dirname "$svg")" "$(dirname "$png")" "$(dirname "$mimeicon")"
sed "s|@EXEC@|$exe|g" "$here/fewlens.desktop" > "$app"
cp "$here/fewlens-mime.xml" "$mime"
cp "$here/fewlens.svg" "$svg"
cp "$here/fewlens.svg" "$mimeicon"
cp "$here/fewlens.png" "$png"
refresh
if command -v xdg-mime >/dev/null 2>&1; then
    xdg-mime default fewlens.desktop application/x-fewlens-project || true
else  # what xdg-mime would write
    cfg=${XDG_CONFIG_HOME:-$HOME/.config}
    mkdir -p "$cfg"
    touch "$cfg/mimeapps.list"
    grep -q '^\[Default Applications\]' "$cfg/mimeapps.list" || printf '[Default Applications]\n' >> "$cfg/mimeapps.list"
    grep -q '^application/x-fewlens-project=' "$cfg/mimeapps.list" ||
        sed -i 's|^\[Default Applications\]$|[Default Applications]\napplication/x-fewlens-project=fewlens.desktop|' "$cfg/mimeapps.list"
fi
echo "FewLens: installed for $(id -un): menu entry $app -> $exe; *.fewlens files open in FewLens"
