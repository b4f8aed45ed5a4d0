#!/usr/bin/env bash
# The main job. Installs what it needs, builds the vnet command, then:
#  1. records fresh real traffic (Linux kernel, dhclient, dnsmasq, dig, TCP) in namespaces
#     of its own (root only) and adds it to the captures in fixtures/captures/;
#  2. decodes every capture with `vnet decode` and checks every field against tshark.
# Exit 0 only when every field of every frame agrees.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${VNET_BUILD_ROOT:-$root/out}
jobs=${VNET_JOBS:-$(nproc)}
"$root/ci/deps.sh"

cmake -S . -B "$out/main" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVNET_BUILD_TESTS=OFF >/dev/null
cmake --build "$out/main" -j "$jobs" --target vnet_cli
vnet="$out/main/tools/vnet/vnet"

captures=("$root"/fixtures/captures/*.pcap)
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$out/captures"
  "$root/ci/make-captures.sh" "$out/captures"
  captures+=("$out/captures/lab-mix.pcap")
else
  echo "ci/main.sh: not root, so no fresh capture is recorded; checking the recorded ones"
fi

failed=0 passed=0
for c in "${captures[@]}"; do
  echo "==== $c"
  "$vnet" decode "$c" | head -5
  if "$vnet" decode "$c" --compare-tshark > "$out/compare.txt"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  grep -E "DISAGREE|frame [0-9]+:|compared" "$out/compare.txt" || true
done
echo "vnet decode vs tshark: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
