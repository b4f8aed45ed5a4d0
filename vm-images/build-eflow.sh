#!/usr/bin/env bash
# vm-images/build-eflow.sh - build the EFLOW-like guest image (kernel + initramfs) from
# Debian packages: systemd as init, systemd-networkd, systemd-resolved, an iptables inbound
# policy and the vnet guest agent. See vm-images/README.md, "The eflow profile".
#
# Usage: vm-images/build-eflow.sh [OUTDIR]
#   OUTDIR defaults to ${VNET_EFLOW_IMAGE_DIR:-/var/cache/vnet/image-eflow}.
# Environment:
#   VNET_EFLOW_IMAGE_DIR default output folder
#   VNET_DEB_CACHE       where the kernel .deb is kept (default /var/cache/vnet/debs)
#   VNET_KERNEL_PACKAGE  kernel package to use instead of the one linux-image-cloud-amd64 selects
#   VNET_DEBIAN_SUITE    Debian suite of the guest (default: the build machine's, from /etc/os-release)
#   SOURCE_DATE_EPOCH    timestamp written into the archive (default 0)
#
# Output: OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/manifest, OUTDIR/packages (dpkg -l of
# the guest). The build is keyed by the manifest (candidate versions of the kernel and of
# every package named below, plus a hash of the recipe files): when OUTDIR already holds an
# image with the same manifest, nothing is done.
set -euo pipefail

die() { printf 'vm-images/build-eflow.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'vm-images/build-eflow.sh: %s\n' "$*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-${VNET_EFLOW_IMAGE_DIR:-/var/cache/vnet/image-eflow}}
debcache=${VNET_DEB_CACHE:-/var/cache/vnet/debs}
epoch=${SOURCE_DATE_EPOCH:-0}

for tool in mmdebstrap apt-cache apt-get dpkg-deb modinfo depmod cpio zstd sha256sum find sort flock; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "missing tool '$tool' (install: apt-get install -y mmdebstrap apt dpkg kmod cpio zstd coreutils findutils util-linux)"
done
recipe=(build-eflow.sh guest/agent guest/console eflow/vnet-console.service eflow/netcfg eflow/ip4save eflow/vnet-netcfg.service
        eflow/vnet-agent.service eflow/iptables.service eflow/journald.conf eflow/resolved.conf
        eflow/vnet-leases.service eflow/customize.sh)
for f in "${recipe[@]}"; do
    [[ -f "$here/$f" ]] || die "missing recipe file $here/$f"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap --mode=root)"

# shellcheck disable=SC1091  # the build machine's os-release
suite=${VNET_DEBIAN_SUITE:-$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")}
[[ -n "$suite" ]] || die "cannot tell the Debian suite (set VNET_DEBIAN_SUITE)"

# The guest's packages on top of Debian's Essential set. What each is for:
#   systemd systemd-resolved dbus udev kmod  init, networkd, resolved (+ resolvectl over D-Bus), modules
#   iproute2 net-tools iputils-ping          ip; ifconfig and route; ping   (the troubleshooting guide's commands)
#   bind9-dnsutils                           nslookup, dig
#   iptables                                 the inbound policy (iptables over nf_tables), iptables -L
#   netcat-openbsd sudo procps               nc for TCP checks; `sudo CMD` as the guide writes it; ps
#   netbase                                  /etc/protocols, /etc/services (iptables -L prints names)
#   usr-is-merged                            the /usr merge is done by mmdebstrap; without it apt
#                                            picks usrmerge, which brings perl (50 MB)
packages=(systemd systemd-resolved dbus udev kmod iproute2 net-tools iputils-ping bind9-dnsutils iptables
          netcat-openbsd sudo procps netbase usr-is-merged)

# ---- resolve versions ----
field() {  # field PACKAGE FIELD < apt-cache show output
    awk -v p="$1" -v f="$2" '
        /^Package: / { cur = $2 }
        cur == p && index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }'
}
meta=$(apt-cache show --no-all-versions linux-image-cloud-amd64 "${packages[@]}" 2>/dev/null) ||
    die "apt-cache show failed for one of: linux-image-cloud-amd64 ${packages[*]} (run apt-get update?)"
if [[ -n "${VNET_KERNEL_PACKAGE:-}" ]]; then
    kpkg=$VNET_KERNEL_PACKAGE
else
    kpkg=$(field linux-image-cloud-amd64 Depends <<<"$meta" | tr ',' '\n' |
           sed -n 's/^ *\(linux-image-[0-9][^ ]*-cloud-amd64\).*/\1/p' | head -n1)
    [[ -n "$kpkg" ]] || die "cannot resolve the kernel behind linux-image-cloud-amd64 (run apt-get update?)"
fi
kver=$({ apt-cache show --no-all-versions "$kpkg" 2>/dev/null || true; } | field "$kpkg" Version)
[[ -n "$kver" ]] || die "package '$kpkg' is unknown to apt (run apt-get update?)"
krel=${kpkg#linux-image-}
versions=()
for p in "${packages[@]}"; do
    v=$(field "$p" Version <<<"$meta")
    [[ -n "$v" ]] || die "package '$p' is unknown to apt (run apt-get update?)"
    versions+=("$p=$v")
done

recipe_hash=$(cd "$here" && sha256sum "${recipe[@]}" | sha256sum | cut -d' ' -f1)
manifest=$(printf '%s\n' \
    "format=vnet-image-eflow/1" \
    "profile=eflow" \
    "suite=$suite" \
    "kernel_package=$kpkg" \
    "kernel_version=$kver" \
    "kernel_release=$krel" \
    "${versions[@]/#/package=}" \
    "recipe_sha256=$recipe_hash")

mkdir -p "$outdir" || die "cannot create $outdir"
exec 9>"$outdir/.lock" || die "cannot write $outdir/.lock"
flock -w 900 9 || die "another build holds $outdir/.lock for more than 15 minutes"

if [[ -f "$outdir/manifest" && -f "$outdir/vmlinuz" && -f "$outdir/initrd.img" ]] &&
   [[ "$(grep -v '^modules=' "$outdir/manifest")" == "$manifest" ]]; then
    log "image up to date: $outdir (kernel $kpkg $kver, suite $suite)"
    printf '%s\n' "$outdir"
    exit 0
fi

# ---- the kernel (cached by file name, which carries the version; shared with build.sh) ----
mkdir -p "$debcache" || die "cannot create $debcache"
kdeb=$(find "$debcache" -maxdepth 1 -name "${kpkg}_${kver//:/%3a}_*.deb" -print -quit)
if [[ -z "$kdeb" ]]; then
    log "downloading $kpkg=$kver"
    (cd "$debcache" && apt-get download -q -o APT::Sandbox::User=root "$kpkg=$kver" >&2) || die "apt-get download $kpkg=$kver failed"
    kdeb=$(find "$debcache" -maxdepth 1 -name "${kpkg}_${kver//:/%3a}_*.deb" -print -quit)
    [[ -n "$kdeb" ]] || die "apt-get download $kpkg=$kver produced no .deb in $debcache"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vnet-image-eflow.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# ---- the root file system: Essential + the packages above, with the machine's apt sources ----
sources=()
[[ -s /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list && sources+=(/etc/apt/sources.list)
for s in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -s "$s" ]] && sources+=("$s")
done
(( ${#sources[@]} > 0 )) || die "no apt sources on this machine (/etc/apt/sources.list, /etc/apt/sources.list.d/)"
log "mmdebstrap $suite: essential + ${packages[*]}"
t0=$SECONDS
SOURCE_DATE_EPOCH=$epoch mmdebstrap --mode=root --variant=essential --quiet \
    --include="$(IFS=,; printf '%s' "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/zoneinfo/*' \
    --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
    --dpkgopt='path-exclude=/usr/lib/udev/hwdb.d/*' \
    --dpkgopt='path-exclude=/lib/udev/hwdb.d/*' \
    --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook="sh '$here/eflow/customize.sh' \"\$1\"" \
    "$suite" "$root" "${sources[@]}" >&2 || die "mmdebstrap failed"
log "root file system in $((SECONDS - t0)) s"
mv "$root/.vnet-packages" "$work/packages"
rm -rf "$root/var/cache/apt" "$root/var/lib/apt/lists" "$root/var/log"/*.log "$root/usr/share/doc"/*/changelog*
rm -f "$root/etc/hwdb.bin" "$root/usr/lib/udev/hwdb.bin"

# ---- kernel modules: virtio (NICs, agent port) and netfilter, with their dependencies ----
dpkg-deb -x "$kdeb" "$work/kernel" || die "dpkg-deb -x $kdeb failed"
vmlinuz=$work/kernel/boot/vmlinuz-$krel
kmods=$work/kernel/lib/modules/$krel
[[ -f "$vmlinuz" ]] || die "$kdeb has no boot/vmlinuz-$krel"
[[ -d "$kmods/kernel" ]] || die "$kdeb has no lib/modules/$krel/kernel"
declare -A modpath=()
while IFS= read -r ko; do
    name=$(basename "$ko"); name=${name%%.ko*}; name=${name//-/_}
    modpath[$name]=$ko
done < <(find "$kmods/kernel" -name '*.ko*')
declare -A state=()
visit() {
    local m=${1//-/_} d
    [[ ${state[$m]:-} == "done" ]] && return 0
    [[ -n "${modpath[$m]:-}" ]] || die "module $m is not in $kpkg"
    state[$m]="done"
    for d in $(modinfo -F depends "${modpath[$m]}" | tr ',' ' '); do visit "$d"; done
}
for m in virtio_pci virtio_net virtio_console; do visit "$m"; done
while IFS= read -r ko; do
    name=$(basename "$ko"); visit "${name%%.ko*}"
done < <(find "$kmods/kernel/net/netfilter" "$kmods/kernel/net/ipv4/netfilter" "$kmods/kernel/net/ipv6/netfilter" -name '*.ko*')
for m in "${!state[@]}"; do
    rel=${modpath[$m]#"$work/kernel/"}
    install -D -m 0644 "${modpath[$m]}" "$root/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [[ -f "$kmods/$f" ]] && cp "$kmods/$f" "$root/lib/modules/$krel/"
done
depmod -b "$root" "$krel" || die "depmod -b $root $krel failed"
log "${#state[@]} kernel modules"

# ---- vnet's files ----
install -D -m 0755 "$here/guest/agent" "$root/usr/lib/vnet/agent"
install -D -m 0755 "$here/guest/console" "$root/usr/lib/vnet/console"
install -D -m 0755 "$here/eflow/netcfg" "$root/usr/lib/vnet/netcfg"
install -D -m 0644 "$here/eflow/ip4save" "$root/etc/systemd/scripts/ip4save"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants" "$root/etc/systemd/network" "$root/etc/modules-load.d"
for u in vnet-netcfg.service vnet-agent.service vnet-console.service vnet-leases.service iptables.service; do
    install -D -m 0644 "$here/eflow/$u" "$root/etc/systemd/system/$u"
    ln -sf "/etc/systemd/system/$u" "$root/etc/systemd/system/multi-user.target.wants/$u"
done
install -D -m 0644 "$here/eflow/journald.conf" "$root/etc/systemd/journald.conf.d/vnet.conf"
install -D -m 0644 "$here/eflow/resolved.conf" "$root/etc/systemd/resolved.conf.d/vnet.conf"
printf 'virtio_net\nvirtio_console\n' > "$root/etc/modules-load.d/vnet.conf"
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
ln -sf /lib/systemd/system/systemd-resolved.service "$root/etc/systemd/system/multi-user.target.wants/systemd-resolved.service"
ln -sfn /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
# Not needed in a lab guest, and slow under TCG: masked.
for u in getty.target serial-getty@.service getty@.service console-getty.service systemd-networkd-wait-online.service \
         systemd-logind.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
         systemd-tmpfiles-clean.timer systemd-journal-flush.service systemd-pstore.service systemd-firstboot.service \
         systemd-hwdb-update.service systemd-journal-catalog-update.service ldconfig.service \
         systemd-sysusers.service systemd-machine-id-commit.service systemd-random-seed.service \
         e2scrub_all.timer e2scrub_reap.service fstrim.timer apt-daily.timer apt-daily-upgrade.timer \
         dpkg-db-backup.timer systemd-remount-fs.service dev-hugepages.mount dev-mqueue.mount \
         sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount \
         systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-ask-password-console.path \
         systemd-ask-password-wall.path modprobe@loop.service modprobe@dm_mod.service modprobe@drm.service \
         modprobe@efi_pstore.service modprobe@fuse.service modprobe@configfs.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
printf 'eflow\n' > "$root/etc/hostname"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
: > "$root/etc/machine-id"
ln -sf /lib/systemd/systemd "$root/init"
printf '%s\n' "$manifest" "modules=$(printf '%s\n' "${!state[@]}" | LC_ALL=C sort | tr '\n' ' ')" > "$root/etc/vnet-manifest"

find "$root" -exec touch -h -d "@$epoch" {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc -R 0:0 --reproducible) | zstd -q -T2 -10 > "$work/initrd.img" ||
    die "cpio/zstd of the initramfs failed"

# ---- publish (manifest last) ----
rm -f "$outdir/manifest"
install -m 0644 "$vmlinuz" "$outdir/vmlinuz.tmp" && mv -f "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
install -m 0644 "$work/initrd.img" "$outdir/initrd.img.tmp" && mv -f "$outdir/initrd.img.tmp" "$outdir/initrd.img"
install -m 0644 "$work/packages" "$outdir/packages"
printf '%s\n' "$manifest" > "$outdir/manifest.tmp" && mv -f "$outdir/manifest.tmp" "$outdir/manifest"
log "built image in $outdir ($(du -h "$outdir/initrd.img" | cut -f1) initramfs, $(du -sh "$root" | cut -f1) unpacked, kernel $krel)"
printf '%s\n' "$outdir"
