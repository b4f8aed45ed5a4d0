#!/usr/bin/env bash
# Records real Linux traffic into fixtures/captures/lab-mix.pcap for the decoder tests and the tshark
# oracle: two network namespaces joined by a veth pair (and an 802.1Q sub-interface),
# dnsmasq as DHCP/DNS/RA server on one side, the kernel, dhclient, dig, ping and a TCP
# client on the other. (802.1Q frames are not in it: these kernels have neither 8021q nor
# bridge VLAN filtering; tagged frames are checked by the tshark oracle test instead.) Everything lives in namespaces this script creates and removes.
# Usage: ci/make-captures.sh [OUTDIR]   (root; packages from ci/deps.sh)
set -euo pipefail
out=$(realpath -m "${1:-$(dirname "$0")/../fixtures/captures}")
mkdir -p "$out"
id="vnetcap$$"
srv="${id}s" cli="${id}c"
work=$(mktemp -d)
cleanup() {
  set +e
  [ -f "$work/tcpdump.pid" ] && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null
  [ -f "$work/dnsmasq.pid" ] && kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null
  [ -f "$work/http.pid" ] && kill "$(cat "$work/http.pid")" 2>/dev/null
  [ -f "$work/dhclient.pid" ] && kill "$(cat "$work/dhclient.pid")" 2>/dev/null
  ip netns del "$srv" 2>/dev/null
  ip netns del "$cli" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

in_srv() { ip netns exec "$srv" "$@"; }
in_cli() { ip netns exec "$cli" "$@"; }

ip netns add "$srv"
ip netns add "$cli"
ip link add veth0 netns "$srv" type veth peer name veth1 netns "$cli"
for ns in "$srv" "$cli"; do ip netns exec "$ns" ip link set lo up; done
in_srv ip addr add 192.168.77.1/24 dev veth0
in_srv ip -6 addr add fd00:77::1/64 dev veth0 nodad
in_srv ip link set veth0 up
in_cli sysctl -qw net.ipv6.conf.veth1.disable_ipv6=1
in_cli ip link set veth1 address 00:15:5d:00:00:10
in_cli ip link set veth1 up

cat > "$work/dnsmasq.conf" <<CONF
interface=veth0
bind-interfaces
except-interface=lo
no-resolv
no-hosts
dhcp-range=192.168.77.100,192.168.77.150,255.255.255.0,1h
dhcp-option=option:router,192.168.77.1
dhcp-option=option:dns-server,192.168.77.1
dhcp-option=option:domain-name,lab.example
dhcp-range=fd00:77::,ra-only,64
enable-ra
address=/iothub.example/198.51.100.10
address=/iothub.example/2001:db8::10
cname=mqtt.lab.example,iothub.example
txt-record=iothub.example,"v=vnet1","lab capture"
srv-host=_mqtt._tcp.lab.example,iothub.example,8883,0,10
ptr-record=10.100.51.198.in-addr.arpa,iothub.example
dhcp-leasefile=$work/leases
pid-file=$work/dnsmasq.pid
CONF
in_srv dnsmasq --conf-file="$work/dnsmasq.conf"
in_srv python3 -m http.server 8080 --bind 192.168.77.1 >/dev/null 2>&1 &
echo $! > "$work/http.pid"

in_cli tcpdump -i veth1 -U -s 0 -w "$work/lab-mix.pcap" >/dev/null 2>&1 &
echo $! > "$work/tcpdump.pid"
sleep 1

# IPv6 comes up: DAD neighbour solicitation, router solicitation, MLDv2 reports, RA.
in_cli sysctl -qw net.ipv6.conf.veth1.disable_ipv6=0
sleep 3
# DHCP: DISCOVER, OFFER, REQUEST, ACK (and ARP probes of the offered address).
in_cli dhclient -4 -v -pf "$work/dhclient.pid" -lf "$work/dhclient.leases" veth1 2>/dev/null
in_cli ping -c 2 -i 0.2 192.168.77.1 >/dev/null
in_cli ping -6 -c 2 -i 0.2 fd00:77::1 >/dev/null
for q in "iothub.example A" "iothub.example AAAA" "mqtt.lab.example A" "iothub.example TXT" \
         "_mqtt._tcp.lab.example SRV" "-x 198.51.100.10" "nosuch.example A"; do
  # shellcheck disable=SC2086
  in_cli dig +tries=1 +time=2 @192.168.77.1 $q >/dev/null || true
done
in_cli python3 -c 'import urllib.request; urllib.request.urlopen("http://192.168.77.1:8080/", timeout=5).read()'
# ARP for an address nobody has: unanswered requests.
in_cli ping -c 1 -W 1 192.168.77.99 >/dev/null 2>&1 || true
in_cli dhclient -4 -r -pf "$work/dhclient.pid" -lf "$work/dhclient.leases" veth1 2>/dev/null
sleep 1
kill "$(cat "$work/tcpdump.pid")"
wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
rm -f "$work/tcpdump.pid"
cp "$work/lab-mix.pcap" "$out/lab-mix.pcap"
echo "wrote $out/lab-mix.pcap ($(tcpdump -r "$out/lab-mix.pcap" 2>/dev/null | wc -l) frames)"
