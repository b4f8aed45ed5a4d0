#!/usr/bin/env bash
# A lab that is up, used by hand: `vnet lab up` boots fixtures/labs/external-static.toml and
# returns; `vnet lab exec LAB VM -- CMD` runs commands in the guest (its output and exit
# status come back, several calls in a row, each through a new connection to the guest
# agent); a VM or lab that does not exist is a clear error (exit 2); `vnet lab down` removes
# the run, and no namespace of it is left.
# Usage: check_lab_exec.sh VNET SOURCE_DIR (as root)
set -uo pipefail
vnet=$1 src=$2
lab=external-static
bad=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected '$2', got '$3'"; bad=1; fi
}
"$vnet" lab down "$lab" >/dev/null 2>&1 || true
"$vnet" lab up "$src/fixtures/labs/$lab.toml" || { echo "FAIL vnet lab up"; exit 1; }
trap '"$vnet" lab down "$lab" >/dev/null 2>&1 || true' EXIT
run=$(ls /run/vnet 2>/dev/null | while read -r id; do [ "$(head -1 "/run/vnet/$id/lab" 2>/dev/null)" = "$lab" ] && echo "$id"; done)
check "one run of $lab" 1 "$(wc -w <<<"$run")"
check "the guest's MAC" "00:15:5d:00:00:10" "$("$vnet" lab exec "$lab" eflow -- cat /sys/class/net/eth0/address)"
for i in 1 2 3; do
  out=$("$vnet" lab exec "$lab" eflow -- "echo call $i; exit $((i + 2))")
  check "call $i: exit status" $((i + 2)) $?
  check "call $i: output" "call $i" "$out"
done
check "by run id" "eflow" "$("$vnet" lab exec "$run" eflow -- hostname)"
err=$("$vnet" lab exec "$lab" nosuchvm -- true 2>&1); st=$?
check "unknown VM: exit status" 2 "$st"
check "unknown VM: message" "vnet: lab exec: lab $lab (run $run) has no VM 'nosuchvm' (VMs: eflow)" "$err"
err=$("$vnet" lab exec nosuchlab eflow -- true 2>&1); st=$?
check "unknown lab: exit status" 2 "$st"
check "unknown lab: message" "vnet: lab exec: no lab or run id 'nosuchlab' is running" "$err"
"$vnet" lab down "$lab" >/dev/null || { echo "FAIL vnet lab down"; bad=1; }
trap - EXIT
check "namespaces left" 0 "$(ip netns list | grep -c "vlab-$run-" || true)"
check "exec after down: exit status" 2 "$("$vnet" lab exec "$lab" eflow -- true >/dev/null 2>&1; echo $?)"
exit $bad
