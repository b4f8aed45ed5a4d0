#!/usr/bin/env bash
# The main job: the EFLOW conformance suite on real VMs, then the decoder against tshark.
# Installs what it needs, builds the vnet command, and (as root):
#  1. `vnet conformance`: every row of the tables in fixtures/conformance/ on QEMU guests
#     in lab namespaces of its own (or evaluated by the EFLOW model where a row says so);
#     prints each table with expected and observed cells; Markdown and JUnit XML go to
#     out/conformance/. A cell nothing can observe yet is reported MISSING, never passed.
#  2. records fresh real traffic in namespaces of its own, decodes it and the recorded
#     captures with `vnet decode` and checks every field against tshark.
# Exit 0 only when every cell and every field agreed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${VNET_BUILD_ROOT:-$root/out}
jobs=${VNET_JOBS:-$(nproc)}
"$root/ci/deps.sh"

cmake -S . -B "$out/main" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVNET_BUILD_TESTS=OFF -DVNET_HEADER_CHECK=OFF >/dev/null
cmake --build "$out/main" -j "$jobs" --target vnet_cli
vnet="$out/main/tools/vnet/vnet"

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/main.sh: the conformance suite boots VMs in network namespaces: run it as root" >&2
  exit 2
fi

status=0
echo "==== vnet conformance"
"$vnet" conformance --report "$out/conformance" || status=1
echo "report: $out/conformance/conformance.md, $out/conformance/conformance.xml"

echo "==== vnet decode against tshark"
mkdir -p "$out/captures"
"$root/ci/make-captures.sh" "$out/captures"
passed=0 failed=0
for c in "$root"/fixtures/captures/*.pcap "$out/captures/lab-mix.pcap"; do
  if "$vnet" decode "$c" --compare-tshark > "$out/compare.txt"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    status=1
  fi
  grep -E "DISAGREE|frame [0-9]+:|compared" "$out/compare.txt" || true
done
echo "vnet decode vs tshark: $passed passed, $failed failed"
exit "$status"
