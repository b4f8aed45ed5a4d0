#!/usr/bin/env bash
# A lab that is up, used by hand: `vnet lab up` boots fixtures/labs/external-static.toml and
# returns; `vnet lab exec LAB VM -- CMD` runs commands in the guest (its output and exit
# status come back, several calls in a row, each through a new connection to the guest
# agent); a VM or lab that does not exist is a clear error (exit 2); `vnet lab down` removes
# the run, and no namespace of it is left.
# The EFLOW host cmdlets on the same lab (`vnet eflow LAB CMDLET ...`): Get-EflowVmAddr,
# Get-EflowVmEndpoint and Get-EflowNetwork report what the VM and the lab hold (and follow
# a change made in the guest), Set-EflowVmDnsServers changes the guest's resolver and
# refuses bad parameters with the reference's messages, Connect-EflowVm gives a shell
# whose terminal is the VM's console. Add-EflowNetwork and Add-EflowVmEndpoint hot-plug
# NICs into the running VM (static and DHCP, busybox and the EFLOW-like guest),
# Remove-EflowVmEndpoint takes one out, Remove-EflowNetwork a network added; bad parameters get the
# reference's messages.
# Usage: check_lab_exec.sh VNET SOURCE_DIR (as root)
set -uo pipefail
vnet=$1 src=$2
lab=external-static
bad=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected '$2', got '$3'"; bad=1; fi
}
"$vnet" lab down "$lab" >/dev/null 2>&1 || true
# the example lab with one more switch, for Add-EflowNetwork / Remove-EflowNetwork
labfile=$(mktemp --suffix=.toml)
{ cat "$src/fixtures/labs/$lab.toml"
  printf '\n[[switch]]\nname = "InternalLab"\nkind = "internal"\nhost_address = "172.20.0.1/24"\n'; } > "$labfile"
"$vnet" lab up "$labfile" || { echo "FAIL vnet lab up"; rm -f "$labfile"; exit 1; }
trap '"$vnet" lab down "$lab" >/dev/null 2>&1 || true; rm -f "$labfile"' EXIT
run=$(ls /run/vnet 2>/dev/null | while read -r id; do [ "$(head -1 "/run/vnet/$id/lab" 2>/dev/null)" = "$lab" ] && echo "$id"; done)
check "one run of $lab" 1 "$(wc -w <<<"$run")"
check "the guest's MAC" "00:15:5d:00:00:10" "$("$vnet" lab exec "$lab" eflow -- cat /sys/class/net/eth0/address)"
for i in 1 2 3; do
  out=$("$vnet" lab exec "$lab" eflow -- "echo call $i; exit $((i + 2))")
  check "call $i: exit status" $((i + 2)) $?
  check "call $i: output" "call $i" "$out"
done
check "by run id" "eflow" "$("$vnet" lab exec "$run" eflow -- hostname)"

# ---- EFLOW cmdlets ----
ef() { "$vnet" eflow "$lab" "$@"; }
addr=$(ef Get-EflowVmAddr); check "Get-EflowVmAddr: exit status" 0 $?
check "Get-EflowVmAddr: MAC" "00:15:5d:00:00:10" "$(sed -n 4p <<<"$addr")"
check "Get-EflowVmAddr: IP" "192.168.0.20" "$(sed -n 5p <<<"$addr")"
check "Get-EflowVmEndpoint" "Name            : eth0|MacAddress      : 00:15:5d:00:00:10|HealthStatus    : Healthy|IpConfiguration : @{IpAddress=192.168.0.20; PrefixLength=24; GatewayAddress=192.168.0.1}" \
  "$(ef Get-EflowVmEndpoint | paste -sd'|')"
check "Get-EflowNetwork" "Name             : ExternalEflow|AllocationMethod : Static|Cidr             : 192.168.0.0/24|Type             : External" \
  "$(ef Get-EflowNetwork -vswitchName ExternalEflow | paste -sd'|')"
check "Set-EflowVmDnsServers" "DNS servers of eth0 (eflow), read back from the VM: 192.168.0.1, 1.1.1.1" \
  "$(ef Set-EflowVmDnsServers -vendpointName eth0 -dnsServers '@("192.168.0.1", "1.1.1.1")')"
check "the guest's resolv.conf after Set-EflowVmDnsServers" "nameserver 192.168.0.1|nameserver 1.1.1.1" \
  "$("$vnet" lab exec "$lab" eflow -- cat /etc/resolv.conf | paste -sd'|')"
err=$(ef Set-EflowVmDnsServers -vendpointName eth9 -dnsServers 1.1.1.1 2>&1); st=$?
check "Set-EflowVmDnsServers, unknown endpoint" "2 vnet: eflow: Error: vendpointName eth9 not found" "$st $err"
err=$(ef Set-EflowVmDnsServers -dnsServers 1.1.1.300 2>&1); st=$?
check "Set-EflowVmDnsServers, bad server" "2 vnet: eflow: Error: Invalid DNS server 1.1.1.300" "$st $err"
err=$(ef Get-EflowVmAddr -vmName x 2>&1); st=$?
check "unknown parameter" "2 vnet: eflow: Error: A parameter cannot be found that matches parameter name 'vmName'" "$st $err"
for i in 1 2; do  # a second session: a new shell waits on the console after the first exits
  out=$(printf 'tty\necho sum=$((40 + %d))\nexit\n' "$i" | timeout 60 "$vnet" eflow "$lab" Connect-EflowVm | tr -d '\r'); st=$?
  check "Connect-EflowVm $i: exit status" 0 "$st"
  check "Connect-EflowVm $i: the shell's terminal" "/dev/hvc0" "$(grep -x /dev/hvc0 <<<"$out")"
  check "Connect-EflowVm $i: a command's output" "sum=$((40 + i))" "$(grep -x "sum=[0-9]*" <<<"$out")"
  check "Connect-EflowVm $i: session ended" 1 "$(grep -c 'vnet-console: session ended' <<<"$out")"
done
# Hot-plug (Add-EflowVmEndpoint): a NIC added to the running VM through QEMU's monitor is
# the guest's eth1 (the first added), with the host pool's MAC, and carries traffic.
err=$(ef Add-EflowVmEndpoint -vswitchName Nope -vendpointName ep1 2>&1); st=$?
check "Add-EflowVmEndpoint, unknown network" "2 vnet: eflow: Error: network Nope not found; add it with Add-EflowNetwork first" "$st $err"
err=$(ef Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName "my ep" 2>&1); st=$?
check "Add-EflowVmEndpoint, a name with a blank" "2 vnet: eflow: Error: vendpointName 'my ep': a name without blanks, please" "$st $err"
err=$(ef Add-EflowNetwork -vswitchName ExternalEflow -vswitchType Internal 2>&1); st=$?
check "Add-EflowNetwork, wrong type" "2 vnet: eflow: Error: virtual switch ExternalEflow is External, not Internal" "$st $err"
err=$(ef Add-EflowNetwork -vswitchName NoSwitch -vswitchType External 2>&1); st=$?
check "Add-EflowNetwork, no such switch" "2 vnet: eflow: Error: virtual switch NoSwitch not found; Add-EflowNetwork does not create it" "$st $err"
out=$(ef Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName ep1 -ip4Address 192.168.0.31 -ip4PrefixLength 24 \
  -ip4GatewayAddress 192.168.0.1); st=$?
check "Add-EflowVmEndpoint (static): exit status" 0 "$st"
check "Add-EflowVmEndpoint (static): the endpoint" "Name            : ep1|HealthStatus    : Healthy|IpConfiguration : @{IpAddress=192.168.0.31; PrefixLength=24; GatewayAddress=192.168.0.1}" \
  "$(grep -v MacAddress <<<"$out" | paste -sd'|')"
mac=$(sed -n 's/^MacAddress *: //p' <<<"$out")
check "Add-EflowVmEndpoint: a MAC from the host's dynamic pool" 1 "$(grep -c '^00:15:5d:' <<<"$mac")"
check "Add-EflowVmEndpoint: the guest's eth1" "$mac" "$("$vnet" lab exec "$lab" eflow -- cat /sys/class/net/eth1/address)"
check "Add-EflowVmEndpoint: traffic on eth1" 0 "$("$vnet" lab exec "$lab" eflow -- ping -c 2 -W 3 -I eth1 192.168.0.50 >/dev/null; echo $?)"
err=$(ef Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName ep1 2>&1); st=$?
check "Add-EflowVmEndpoint, name in use" "2 vnet: eflow: Error: vendpointName ep1 already exists" "$st $err"
out=$(ef Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName ep2); st=$?
check "Add-EflowVmEndpoint (DHCP): exit status" 0 "$st"
check "Add-EflowVmEndpoint (DHCP): a lease from the LAN's range" 1 "$(grep -c 'IpAddress=192.168.0.1[0-9][0-9];' <<<"$out")"
check "Get-EflowVmEndpoint lists the added endpoints" "eth0 ep1 ep2" "$(ef Get-EflowVmEndpoint | sed -n 's/^Name *: //p' | paste -sd' ')"
err=$(ef Remove-EflowVmEndpoint -vendpointName eth0 2>&1); st=$?
check "Remove-EflowVmEndpoint, the primary" "2 vnet: eflow: Error: vendpointName eth0 is the primary endpoint; it manages the VM lifecycle and cannot be removed" "$st $err"
err=$(ef Remove-EflowVmEndpoint -vendpointName ep9 2>&1); st=$?
check "Remove-EflowVmEndpoint, unknown" "2 vnet: eflow: Error: vendpointName ep9 not found" "$st $err"
ef Remove-EflowVmEndpoint -vendpointName ep1; st=$?
check "Remove-EflowVmEndpoint: exit status" 0 "$st"
check "Remove-EflowVmEndpoint: the guest has no eth1" "" "$("$vnet" lab exec "$lab" eflow -- ls /sys/class/net | grep -x eth1)"
check "Get-EflowVmEndpoint after the removal" "eth0 ep2" "$(ef Get-EflowVmEndpoint | sed -n 's/^Name *: //p' | paste -sd' ')"
# Remove-EflowNetwork: not the primary network, not one never added, not while it has
# endpoints. (ep3 is the VM's third hot-plugged NIC, the most this guest takes: booted with
# acpi=off, it routes PCI interrupts from the BIOS table, which ends at slot 6.)
err=$(ef Remove-EflowNetwork 2>&1); st=$?
check "Remove-EflowNetwork, no name" "2 vnet: eflow: Error: vSwitchName is required" "$st $err"
err=$(ef Remove-EflowNetwork -vswitchName ExternalEflow 2>&1); st=$?
check "Remove-EflowNetwork, the primary" "2 vnet: eflow: Error: network ExternalEflow is the primary network; it manages the VM lifecycle and cannot be removed" "$st $err"
err=$(ef Remove-EflowNetwork -vswitchName InternalLab 2>&1); st=$?
check "Remove-EflowNetwork, never added" "2 vnet: eflow: Error: network InternalLab not found; add it with Add-EflowNetwork first" "$st $err"
ef Add-EflowNetwork -vswitchName InternalLab -vswitchType Internal >/dev/null; st=$?
check "Add-EflowNetwork InternalLab: exit status" 0 "$st"
check "Get-EflowNetwork lists it" "ExternalEflow InternalLab" "$(ef Get-EflowNetwork | sed -n 's/^Name *: //p' | paste -sd' ')"
out=$(ef Add-EflowVmEndpoint -vswitchName InternalLab -vendpointName ep3 -ip4Address 172.20.0.5 -ip4PrefixLength 24 \
  -ip4GatewayAddress 172.20.0.1); st=$?
check "Add-EflowVmEndpoint after a removal: exit status" 0 "$st"
check "Add-EflowVmEndpoint after a removal: a new MAC" 0 "$(grep -c "$mac" <<<"$out")"
check "Add-EflowVmEndpoint on InternalLab: the host vNIC answers" 0 \
  "$("$vnet" lab exec "$lab" eflow -- ping -c 2 -W 3 172.20.0.1 >/dev/null; echo $?)"
check "Get-EflowVmEndpoint after the new endpoint" "eth0 ep2 ep3" "$(ef Get-EflowVmEndpoint | sed -n 's/^Name *: //p' | paste -sd' ')"
err=$(ef Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName ep4 2>&1); st=$?
check "Add-EflowVmEndpoint, a fourth hot-plugged NIC" "1 vnet: eflow: cannot add the NIC: eflow has no PCI slot left for a NIC: slots 0-6 are taken (a removed NIC keeps its slot until the VM restarts), and a guest booted with acpi=off gets no interrupt beyond slot 6" "$st $err"
check "Get-EflowVmEndpoint after the refusal" "eth0 ep2 ep3" "$(ef Get-EflowVmEndpoint | sed -n 's/^Name *: //p' | paste -sd' ')"
err=$(ef Remove-EflowNetwork -vswitchName InternalLab 2>&1); st=$?
check "Remove-EflowNetwork, an endpoint left" "2 vnet: eflow: Error: network InternalLab still has endpoint ep3; remove it with Remove-EflowVmEndpoint first" "$st $err"
ef Remove-EflowVmEndpoint -vendpointName ep3; st=$?
check "Remove-EflowVmEndpoint ep3: exit status" 0 "$st"
ef Remove-EflowNetwork -vswitchName InternalLab; st=$?
check "Remove-EflowNetwork: exit status" 0 "$st"
check "Get-EflowNetwork after the removal" "ExternalEflow" "$(ef Get-EflowNetwork | sed -n 's/^Name *: //p' | paste -sd' ')"
err=$(ef Add-EflowVmEndpoint -vswitchName InternalLab -vendpointName ep5 2>&1); st=$?
check "Add-EflowVmEndpoint on the removed network" "2 vnet: eflow: Error: network InternalLab not found; add it with Add-EflowNetwork first" "$st $err"

# The cmdlets read the VM: a changed address and a link taken down show up.
"$vnet" lab exec "$lab" eflow -- "ip addr flush dev eth0 && ip addr add 192.168.0.77/24 dev eth0" >/dev/null
check "Get-EflowVmAddr follows the guest" "192.168.0.77" "$(ef Get-EflowVmAddr | sed -n 5p)"
"$vnet" lab exec "$lab" eflow -- ip link set eth0 down >/dev/null
check "Get-EflowVmEndpoint, link down" "HealthStatus    : Unhealthy" "$(ef Get-EflowVmEndpoint -vendpointName eth0 | grep HealthStatus)"

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

# ---- the same lab with the EFLOW-like guest (profile = "eflow": systemd-networkd,
# systemd-resolved): the troubleshooting guide's commands typed literally in Connect-EflowVm.
elab=external-static-eflow
lf=$(mktemp --suffix=.toml)
trap '"$vnet" lab down "$elab" >/dev/null 2>&1 || true; rm -f "$lf"' EXIT
sed -e "s/^name = \"$lab\"/name = \"$elab\"/" -e 's/^name = "eflow"$/name = "eflow"\nprofile = "eflow"/' \
  "$src/fixtures/labs/$lab.toml" > "$lf"
"$vnet" lab down "$elab" >/dev/null 2>&1 || true
if "$vnet" lab up "$lf"; then
  check "eflow guest: Set-EflowVmDnsServers (resolvectl)" "DNS servers of eth0 (eflow), read back from the VM: 192.168.0.1, 1.1.1.1" \
    "$("$vnet" eflow "$elab" Set-EflowVmDnsServers -vendpointName eth0 -dnsServers 192.168.0.1,1.1.1.1)"
  out=$(printf 'ifconfig eth0\nresolvectl status eth0\nexit\n' | timeout 60 "$vnet" eflow "$elab" Connect-EflowVm | tr -d '\r'); st=$?
  check "eflow guest: Connect-EflowVm exit status" 0 "$st"
  check "eflow guest: ifconfig eth0's inet" 1 "$(grep -c 'inet 192.168.0.20  netmask 255.255.255.0' <<<"$out")"
  check "eflow guest: resolvectl's DNS Servers" 1 "$(grep -c 'DNS Servers: 192.168.0.1 1.1.1.1' <<<"$out")"
  check "eflow guest: a login shell (bash), ended" 1 "$(grep -c 'vnet-console: session ended' <<<"$out")"
  out=$("$vnet" eflow "$elab" Add-EflowVmEndpoint -vswitchName ExternalEflow -vendpointName ep1); st=$?
  check "eflow guest: Add-EflowVmEndpoint (DHCP, systemd-networkd): exit status" 0 "$st"
  check "eflow guest: Add-EflowVmEndpoint: a lease on eth1" 1 "$(grep -c 'IpAddress=192.168.0.1[0-9][0-9];' <<<"$out")"
  check "eflow guest: eth1's own default route, random metric" 1 \
    "$("$vnet" lab exec "$elab" eflow -- ip -4 route show default dev eth1 | grep -c 'metric [0-9]')"
  "$vnet" lab down "$elab" >/dev/null || { echo "FAIL vnet lab down $elab"; bad=1; }
else
  echo "FAIL vnet lab up $elab"; bad=1
fi
exit $bad
