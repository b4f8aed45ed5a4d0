#!/usr/bin/env bash
# Sharded runs merged, as a CI job matrix does it (docs/ci-recipe.md): the model rows run as
# three shards (`--shard I/3`), `vnet conformance merge` joins their conformance.json, and
# the merged report must carry exactly the cells of one unsharded run, with the same
# observations and statuses, in every format. A row present in two shards, or shards of
# different NIC models, is refused.
# Usage: check_merge.sh VNET WORK_DIR
set -euo pipefail
vnet=$1 dir=$2
rm -rf "$dir"; mkdir -p "$dir"
for i in 1 2 3; do
  "$vnet" conformance --eval model --shard "$i/3" --report "$dir/shard-$i" >/dev/null 2>&1
done
"$vnet" conformance --eval model --report "$dir/whole" >/dev/null 2>&1
merged=$("$vnet" conformance merge "$dir/shard-1" "$dir/shard-2" "$dir/shard-3" --report "$dir/merged" 2>&1)
echo "$merged"
bad=0
python3 - "$dir" <<'PY' || bad=1
import json, sys
d = sys.argv[1]
def cells(path):
    j = json.load(open(path))
    return [(t["name"], r["id"], c["label"], c["expected"], c["observed"], c["status"], c["origin"])
            for t in j["tables"] for r in t["rows"] for c in r["cells"]]
whole, merged = cells(f"{d}/whole/conformance.json"), cells(f"{d}/merged/conformance.json")
shards = sum(len(cells(f"{d}/shard-{i}/conformance.json")) for i in (1, 2, 3))
print(f"cells: whole {len(whole)}, shards {shards}, merged {len(merged)}")
ok = len(whole) > 0 and shards == len(whole) and whole == merged
if not ok:
    print("FAIL merged cells differ from the unsharded run:", set(whole) ^ set(merged))
sys.exit(0 if ok else 1)
PY
for f in conformance.md conformance.xml index.html; do
  [ -s "$dir/merged/$f" ] || { echo "FAIL merged report has no $f"; bad=1; }
done
n=$(grep -c '<testcase ' "$dir/merged/conformance.xml" || true)
w=$(grep -c '<testcase ' "$dir/whole/conformance.xml" || true)
[ "$n" = "$w" ] && echo "ok   JUnit test cases: $n" || { echo "FAIL JUnit test cases: merged $n, whole $w"; bad=1; }
if "$vnet" conformance merge "$dir/shard-1" "$dir/shard-1" --report "$dir/dup" >/dev/null 2>"$dir/dup.err"; then
  echo "FAIL a row in two shards was merged"; bad=1
else
  grep -q "is in $dir/shard-1 and in $dir/shard-1" "$dir/dup.err" && echo "ok   duplicate row refused: $(cat "$dir/dup.err")" ||
    { echo "FAIL duplicate row: $(cat "$dir/dup.err")"; bad=1; }
fi
sed -i 's/"nic_model": "virtio"/"nic_model": "netvsc"/' "$dir/shard-2/conformance.json"
if "$vnet" conformance merge "$dir/shard-1" "$dir/shard-2" --report "$dir/mixed" >/dev/null 2>"$dir/mixed.err"; then
  echo "FAIL shards of two NIC models were merged"; bad=1
else
  echo "ok   mixed NIC models refused: $(cat "$dir/mixed.err")"
fi
exit $bad
