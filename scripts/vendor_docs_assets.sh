#!/usr/bin/env bash
# Fetch the pinned Swagger UI and ReDoc builds that /docs and /redoc serve, so the API docs work offline and never
# load code from a CDN on the page where users paste their API key (research tool, not for clinical use).
#
#   scripts/vendor_docs_assets.sh            # writes src/amr_grpo/service/static/vendor/ and its SHA256SUMS
#
# npm fetches each package from the registry and checks it against the registry's integrity hash; the files are
# copied unchanged but for ReDoc's logo URL (below), with their licences. To upgrade, change a version below, run this, run tests/service/test_docs.py.
set -euo pipefail

SWAGGER_UI=5.35.0  # npm swagger-ui-dist (Apache-2.0)
REDOC=2.5.4        # npm redoc (MIT)

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/src/amr_grpo/service/static/vendor"
command -v npm >/dev/null || { echo "error: npm is not installed" >&2; echo "hint: apt-get install npm" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
mkdir -p "$tmp/sw" "$tmp/rd"
tar -xzf "$tmp/swagger-ui-dist-$SWAGGER_UI.tgz" -C "$tmp/sw"
tar -xzf "$tmp/redoc-$REDOC.tgz" -C "$tmp/rd"

rm -rf "$dest"
mkdir -p "$dest"
sw="$tmp/sw/package" rd="$tmp/rd/package/bundles"
cp "$sw/swagger-ui-bundle.js" "$sw/swagger-ui-bundle.js.LICENSE.txt" "$sw/swagger-ui.css" "$sw/favicon-32x32.png" "$dest/"
cp "$sw/LICENSE" "$dest/swagger-ui.LICENSE"
cp "$sw/NOTICE" "$dest/swagger-ui.NOTICE"
cp "$rd/redoc.standalone.js" "$rd/redoc.standalone.js.LICENSE.txt" "$dest/"
# The one change: ReDoc's sidebar shows a logo fetched from Redocly's CDN on every page view. It becomes an empty
# inline image, so /redoc makes no request outside this server (the page's CSP would block it, with a console error).
logo='https://cdn.redoc.ly/redoc/logo-mini.svg'
grep -q "$logo" "$dest/redoc.standalone.js" || { echo "error: redoc $REDOC no longer loads $logo; review the patch" >&2; exit 1; }
sed -i "s#$logo#data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E#" "$dest/redoc.standalone.js"
cp "$tmp/rd/package/LICENSE" "$dest/redoc.LICENSE"
cat > "$dest/VERSIONS" <<VERSIONS
swagger-ui-dist $SWAGGER_UI (npm, Apache-2.0): swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png
redoc $REDOC (npm, MIT): redoc.standalone.js (its sidebar logo URL replaced by an empty inline image: no CDN request)
Fetched by scripts/vendor_docs_assets.sh; SHA256SUMS lists every file (tests/service/test_docs.py checks it).
VERSIONS
(cd "$dest" && sha256sum -- * | grep -v ' SHA256SUMS$' > SHA256SUMS)
echo "vendored swagger-ui-dist $SWAGGER_UI and redoc $REDOC into ${dest#"$root"/}"
