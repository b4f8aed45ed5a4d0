#!/usr/bin/env bash
# The conformance report page as a person sees it: `vnet conformance --eval model --report
# DIR` writes index.html; headless Chromium (Debian chromium) renders it, and the rendered
# DOM must show what the run printed (its cell counts, the switch x SKU matrix with one
# coloured square per row of the run), with a screenshot kept in the report folder.
# Usage: check_index_html.sh VNET REPORT_DIR
set -euo pipefail
vnet=$1 dir=$2
browser=$(command -v chromium || true)
[ -n "$browser" ] || { echo "check_index_html: chromium is not installed (Debian package chromium)"; exit 1; }
rm -rf "$dir"; mkdir -p "$dir"
out=$("$vnet" conformance --eval model --report "$dir" 2>/dev/null | tail -1)
echo "$out"
read -r cells pass fail missing error < <(sed -E 's/^conformance: ([0-9]+) cells in [0-9]+ rows: ([0-9]+) pass, ([0-9]+) fail, ([0-9]+) missing, ([0-9]+) error.*/\1 \2 \3 \4 \5/' <<<"$out")
[ -f "$dir/index.html" ] || { echo "check_index_html: no index.html in $dir"; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile")
dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$dir/index.html" 2>/dev/null)
timeout 120 "$browser" "${flags[@]}" --window-size=1280,1600 --screenshot="$dir/screenshot.png" "file://$dir/index.html" \
  >/dev/null 2>&1
bad=0
want() {  # want DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected $2, shown $3"; bad=1; fi
}
shown() { grep -oE "$1" <<<"$dom" | head -1 | sed -E 's/.*>([0-9]+) .*/\1/' | grep . || echo none; }
want "PASS count" "$pass" "$(shown '<span class="pass">[0-9]+ PASS')"
want "FAIL count" "$fail" "$(shown '<span class="fail">[0-9]+ FAIL')"
want "MISSING count" "$missing" "$(shown '<span class="missing">[0-9]+ MISSING')"
want "ERROR count" "$error" "$(shown '<span class="error">[0-9]+ ERROR')"
want "cells" "$cells" "$(grep -oE '[0-9]+ cells in' <<<"$dom" | head -1 | grep -oE '^[0-9]+' || echo none)"
# the switch x SKU matrix: one square per (switch type, SKU) row of the run, coloured by its result
matrix=$(sed -n '/<table class="matrix" data-table="switch-sku">/,/<\/table>/p' <<<"$dom")
rows_run=$(grep -cE '^id = "(external|internal|default)-(client|server)"' "$(dirname "$0")/../../fixtures/conformance/01_switch_sku.toml")
want "switch-sku matrix squares" "$rows_run" "$(grep -oE '<td class="(pass|fail|missing|error)"><a href="#switch-sku--' <<<"$matrix" | wc -l)"
[ -s "$dir/screenshot.png" ] && echo "ok   screenshot: $dir/screenshot.png ($(stat -c %s "$dir/screenshot.png") bytes)" ||
  { echo "FAIL screenshot not written"; bad=1; }
exit "$bad"
