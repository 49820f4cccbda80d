#!/usr/bin/env bash
# Vendor the browser libraries the web pages use, at pinned versions, from the npm registry.
# Each dist file is copied with its licence into app/web/static/vendor/; the pages never load
# anything from a CDN. Run again after changing a version below, then commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT=1.6.32
AXE=4.10.3

dest=app/web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # package version -> unpacked directory
    (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
    mkdir -p "$work/$1"
    tar -xzf "$work/$1-$2.tgz" -C "$work/$1"
    echo "$work/$1/package"
}

mkdir -p "$dest"
pkg=$(fetch uplot "$UPLOT")
cp "$pkg/dist/uPlot.esm.js" "$dest/uPlot.esm.js"
cp "$pkg/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$pkg/LICENSE" "$dest/uPlot.LICENSE"

pkg=$(fetch axe-core "$AXE")
cp "$pkg/axe.min.js" "$dest/axe.min.js"
cp "$pkg/LICENSE" "$dest/axe-core.LICENSE"

cat > "$dest/VERSIONS" <<END
uplot ${UPLOT} (MIT) uPlot.esm.js uPlot.min.css
axe-core ${AXE} (MPL-2.0) axe.min.js - loaded by the browser tests only
END
echo "vendored into $dest:"; ls -l "$dest"
