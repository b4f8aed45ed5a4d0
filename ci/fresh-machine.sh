#!/usr/bin/env bash
# Runs the README's set-up commands on a fresh Debian 12 system: a minbase chroot made by
# mmdebstrap (Debian's packages only), with a copy of this checkout's committed tree in /src.
# An optional job, not part of ci/test.sh: it downloads a whole system and builds from cold.
#
# Usage: ci/fresh-machine.sh [--deps | --test | --main | --all] [DIR]
#   --deps  (default) ci/deps.sh, then ci/check-programs.sh: every program vnet runs is
#           installed on a system that had nothing but Debian's minbase
#   --test  ci/deps.sh, then ci/test.sh (the README's test command)
#   --main  ci/deps.sh, then ci/main.sh (the README's main job)
#   --all   both README commands
#   DIR     where the chroot is made (default: a new temporary folder, removed at the end)
# Needs root. Prints the time each command took. Exit: the first failing command's status.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=--deps
dir=
for a in "$@"; do
  case "$a" in
    --deps|--test|--main|--all) mode=$a ;;
    -*) echo "ci/fresh-machine.sh: unknown option $a" >&2; exit 2 ;;
    *) dir=$a ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "ci/fresh-machine.sh: run it as root (chroot, mounts)" >&2; exit 2; }

if ! command -v mmdebstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

keep=1
if [ -z "$dir" ]; then dir=$(mktemp -d /var/tmp/vnet-fresh.XXXXXX); keep=0; fi
mounts=()
cleanup() {
  local m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  if [ "$keep" = 0 ]; then rm -rf --one-file-system "$dir"; fi
}
trap cleanup EXIT INT TERM HUP

timed() {  # timed LABEL CMD...: runs CMD, prints how long it took
  local label=$1 t0 rc=0; shift
  t0=$(date +%s)
  "$@" || rc=$?
  echo "ci/fresh-machine.sh: $label: $(( $(date +%s) - t0 )) s, exit $rc"
  return "$rc"
}

if [ ! -x "$dir/bin/bash" ]; then
  rmdir "$dir" 2>/dev/null || true
  timed "mmdebstrap bookworm minbase" mmdebstrap --variant=minbase --quiet bookworm "$dir"
fi

# A clone of this checkout's committed tree: what a newcomer starts from.
rm -rf "$dir/src"
git clone -q "$root" "$dir/src"
cp /etc/resolv.conf "$dir/etc/resolv.conf"

# The chroot's / must be a mount point: `ip netns exec` / `ip -n` remount / as a slave in
# their own mount namespace, which fails ("mount --make-rslave /": Invalid argument) on a
# plain directory.
mount --bind "$dir" "$dir"; mounts+=("$dir")
for m in proc sys dev dev/pts; do
  mkdir -p "$dir/$m"
  mount --rbind "/$m" "$dir/$m"; mount --make-rslave "$dir/$m"
  mounts+=("$dir/$m")
done
mkdir -p "$dir/run"; mount -t tmpfs tmpfs "$dir/run"; mounts+=("$dir/run")

in_chroot() { chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  CI=true bash -c "cd /src && $1"; }

timed "ci/deps.sh" in_chroot "ci/deps.sh"
case "$mode" in
  --deps) timed "ci/check-programs.sh" in_chroot "ci/check-programs.sh" ;;
  --test) timed "ci/test.sh" in_chroot "ci/test.sh" ;;
  --main) timed "ci/main.sh" in_chroot "ci/main.sh" ;;
  --all) timed "ci/main.sh" in_chroot "ci/main.sh"; timed "ci/test.sh" in_chroot "ci/test.sh" ;;
esac
