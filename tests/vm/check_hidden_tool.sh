#!/usr/bin/env bash
# A guest that cannot run a tool: every cell that depends on it is an ERROR, never a PASS
# and never an observed "fail". Runs the switch table with ping hidden from the guests'
# agents (VNET_GUEST_HIDE=ping: the agent answers "sh: ping: not found", exit 127) and
# checks the report: each ping from a VM and the flooding cell (its frames are pings) is
# ERROR; pings from the lab's namespaces and the model cells are unaffected.
# Usage: check_hidden_tool.sh VNET REPORT_DIR (as root)
set -uo pipefail
vnet=$1 dir=$2
rm -rf "$dir"
VNET_GUEST_HIDE=ping "$vnet" conformance --table 8 --report "$dir" > "$dir.out" 2>&1
rc=$?
tail -1 "$dir.out"
md="$dir/conformance.md"
[ -f "$md" ] || { echo "FAIL no report ($md); exit $rc"; cat "$dir.out"; exit 1; }
bad=0
[ "$rc" -eq 1 ] || { echo "FAIL vnet conformance exited $rc, not 1 (errors fail the run)"; bad=1; }
# | row | source | cell | expected | observed | result | evaluated |
dependent=0 unaffected=0
while IFS='|' read -r _ row _ cell _ observed result _; do
  cell=$(xargs <<<"$cell"); result=$(xargs <<<"$result"); row=$(xargs <<<"$row")
  [ "$row" = row ] && continue  # the header
  vm_ping=0
  case "$cell" in "ping vm"*|"ping eflow"*|flooding*) vm_ping=1 ;; esac
  if [ "$vm_ping" = 1 ]; then
    dependent=$((dependent + 1))
    [ "$result" = ERROR ] || { echo "FAIL $row / $cell: $result (a guest without ping cannot observe it)"; bad=1; }
  elif [ "$result" = ERROR ]; then
    echo "FAIL $row / $cell: ERROR, but it does not use the guest's ping"; bad=1
  else
    unaffected=$((unaffected + 1))
  fi
done < <(grep -E '^\| [a-z0-9-]+ \|' "$md")
echo "cells that need the guest's ping: $dependent, all ERROR: $([ $bad = 0 ] && echo yes || echo no); others: $unaffected"
[ "$dependent" -gt 0 ] || { echo "FAIL no cell uses the guest's ping: the table changed?"; bad=1; }
exit "$bad"
