#!/usr/bin/env bash
# Installs every Debian package vnet needs to build, test, fuzz, benchmark and run labs.
# Idempotent: packages already present are left alone; apt-get update runs only when
# something is missing.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ clang libclang-rt-14-dev pkg-config git ccache
  # the layout check (ci/format.sh, .clang-format)
  clang-format
  # libraries
  libfmt-dev librange-v3-dev libboost-test-dev libpcap-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev libbenchmark-dev libtins-dev
  # test oracles and peers; shfmt reads the scripts for ci/check-programs.sh
  tshark tcpdump shfmt busybox vde2 dnsmasq-base isc-dhcp-client dhcpcd-base bind9-dnsutils iproute2 iputils-ping python3
  # VM labs (the guest kernel and busybox-static are downloaded by vm-images/build.sh, not installed)
  qemu-system-x86 cpio kmod gzip dpkg apt util-linux procps nftables iperf3
  # ci/fresh-machine.sh (a minbase chroot for the README commands)
  mmdebstrap
  # report pages: topologies drawn by Graphviz, index.html checked in headless Chromium
  graphviz chromium
  # the eflow guest profile (vm-images/build-eflow.sh: mmdebstrap above, a zstd initramfs)
  zstd
  # bench_io_switch: its AF_XDP fabric (bench/xsk_fabric.cpp) and the GRO / threaded NAPI knob
  libxdp-dev libbpf-dev ethtool
  # the Debian package (cpack -G DEB with CPACK_DEBIAN_PACKAGE_SHLIBDEPS: file, dpkg-shlibdeps)
  file dpkg-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ci/deps.sh: all ${#packages[@]} packages present"
  exit 0
fi
echo "ci/deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
