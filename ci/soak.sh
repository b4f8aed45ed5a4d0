#!/usr/bin/env bash
# Flakiness, measured: runs the whole conformance suite N times with virtio NICs and N
# times with netvsc NICs and prints, per cell, how often it gave a result other than its
# usual one (a flaky cell is one whose result was not the same in every run).
# Usage: ci/soak.sh N [BUILD_DIR] [OUT_DIR]   (as root; default out/gcc, out/soak)
#        ci/soak.sh --summary N [OUT_DIR]     the table of the runs OUT_DIR holds so far
# The runs alternate (virtio 1, netvsc 1, virtio 2, ...), so a soak stopped early has as
# many runs of each model. Exit 0 when no cell was flaky.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
summary_only=0
if [ "${1:-}" = --summary ]; then summary_only=1; shift; fi
n=${1:?usage: ci/soak.sh N [BUILD_DIR] [OUT_DIR] | ci/soak.sh --summary N [OUT_DIR]}
if [ "$summary_only" = 1 ]; then
  out=${2:-$root/out/soak}
else
  build=${2:-$root/out/gcc}
  out=${3:-$root/out/soak}
  vnet="$build/tools/vnet/vnet"
  [ -x "$vnet" ] || cmake --build "$build" --target vnet_cli
  mkdir -p "$out"
  for i in $(seq 1 "$n"); do
    for model in virtio netvsc; do
      t0=$(date +%s)
      "$vnet" conformance --nic-model "$model" --report "$out/$model-$i" > "$out/$model-$i.log" 2>&1 || true
      echo "ci/soak.sh: $model run $i: $(tail -1 "$out/$model-$i.log") ($(( $(date +%s) - t0 )) s)"
    done
  done
fi
python3 - "$out" "$n" <<'PY'
import collections, glob, os, re, sys
out, n = sys.argv[1], int(sys.argv[2])
flaky = 0
for model in ("virtio", "netvsc"):
    results = collections.defaultdict(list)
    runs = 0
    for i in range(1, n + 1):
        md = os.path.join(out, f"{model}-{i}", "conformance.md")
        if not os.path.exists(md):
            print(f"{model} run {i}: no report")
            continue
        runs += 1
        for line in open(md, encoding="utf-8"):
            if not line.startswith("| ") or line.startswith("| row |"):
                continue
            parts = [p.strip() for p in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(parts) >= 7:
                results[(parts[0], parts[2])].append(parts[5])
    print(f"\n{model}: {len(results)} cells over {runs} runs")
    for (row, cell), rs in sorted(results.items()):
        c = collections.Counter(rs)
        if len(c) > 1 or rs.count("PASS") != len(rs):
            flaky += len(c) > 1
            usual = c.most_common(1)[0][0]
            rate = 100.0 * (len(rs) - c[usual]) / len(rs)
            print(f"  {row} / {cell}: {dict(c)} (flake rate {rate:.0f} %)")
print(f"\nci/soak.sh: {flaky} flaky cells")
sys.exit(1 if flaky else 0)
PY
