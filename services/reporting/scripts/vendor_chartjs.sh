#!/usr/bin/env bash
# Vendors Chart.js into the reporting package, so the dashboard page draws its charts with no
# CDN and no internet: the registry's tarball is unpacked in a temporary directory and its UMD
# build and licence copied beside the page. The copied files are committed; nothing is fetched
# at run time or in CI. Run again with another version to upgrade:
#   services/reporting/scripts/vendor_chartjs.sh 4.6.1
set -euo pipefail

VERSION="${1:-4.6.1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/../src/bpu_reporting/static/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "chart.js@$VERSION" >/dev/null && tar -xzf chart.js-"$VERSION".tgz)
mkdir -p "$DEST"
cp "$TMP/package/dist/chart.umd.js" "$DEST/chart.umd.js"
cp "$TMP/package/LICENSE.md" "$DEST/chart.js-LICENSE.md"
echo "$VERSION" > "$DEST/chart.js-VERSION"
echo "Chart.js $VERSION vendored into $DEST"
