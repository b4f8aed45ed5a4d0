#!/usr/bin/env bash
# vm-images/build.sh - build the vnet guest image (kernel + initramfs) from Debian packages.
#
# Usage: vm-images/build.sh [OUTDIR]
#   OUTDIR defaults to ${VNET_IMAGE_DIR:-/var/cache/vnet/image}.
# Environment:
#   VNET_IMAGE_DIR       default output folder
#   VNET_DEB_CACHE       where downloaded .deb files are kept (default /var/cache/vnet/debs)
#   VNET_KERNEL_PACKAGE  kernel package to use instead of the one linux-image-cloud-amd64 selects
#   SOURCE_DATE_EPOCH    timestamp written into the archive (default 0)
#
# Output: OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/manifest.
# The build is keyed by the manifest (package versions + hash of the recipe files): when
# OUTDIR already holds an image with the same manifest, nothing is done.
set -euo pipefail

die() { printf 'vm-images/build.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'vm-images/build.sh: %s\n' "$*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-${VNET_IMAGE_DIR:-/var/cache/vnet/image}}
debcache=${VNET_DEB_CACHE:-/var/cache/vnet/debs}
epoch=${SOURCE_DATE_EPOCH:-0}

for tool in apt-cache apt-get dpkg-deb modinfo cpio gzip sha256sum find sort flock; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (install: apt-get install -y apt dpkg kmod cpio gzip coreutils findutils util-linux)"
done
for f in init agent console udhcpc.script; do
    [[ -f "$here/guest/$f" ]] || die "missing recipe file $here/guest/$f"
done

# ---- resolve package versions (apt-cache is slow on a busy machine: two calls) ----
field() {  # field PACKAGE FIELD < apt-cache show output
    awk -v p="$1" -v f="$2" '
        /^Package: / { cur = $2 }
        cur == p && index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }'
}
meta=$(apt-cache show --no-all-versions linux-image-cloud-amd64 busybox-static 2>/dev/null) ||
    die "apt-cache show linux-image-cloud-amd64 busybox-static failed (run apt-get update?)"
bbver=$(field busybox-static Version <<<"$meta")
[[ -n "$bbver" ]] || die "package 'busybox-static' is unknown to apt (run apt-get update?)"
if [[ -n "${VNET_KERNEL_PACKAGE:-}" ]]; then
    kpkg=$VNET_KERNEL_PACKAGE
else
    # The metapackage depends on exactly one versioned kernel package.
    kpkg=$(field linux-image-cloud-amd64 Depends <<<"$meta" | tr ',' '\n' |
           sed -n 's/^ *\(linux-image-[0-9][^ ]*-cloud-amd64\).*/\1/p' | head -n1)
    [[ -n "$kpkg" ]] || die "cannot resolve the kernel behind linux-image-cloud-amd64 (run apt-get update?)"
fi
kver=$({ apt-cache show --no-all-versions "$kpkg" 2>/dev/null || true; } | field "$kpkg" Version)
[[ -n "$kver" ]] || die "package '$kpkg' is unknown to apt (run apt-get update?)"
krel=${kpkg#linux-image-}

recipe_hash=$(cd "$here" && sha256sum build.sh guest/init guest/agent guest/console guest/udhcpc.script | sha256sum | cut -d' ' -f1)

manifest=$(printf '%s\n' \
    "format=vnet-image/1" \
    "kernel_package=$kpkg" \
    "kernel_version=$kver" \
    "kernel_release=$krel" \
    "busybox_package=busybox-static" \
    "busybox_version=$bbver" \
    "recipe_sha256=$recipe_hash")

# One build per OUTDIR at a time; a build that waited finds the image current.
mkdir -p "$outdir" || die "cannot create $outdir"
exec 9>"$outdir/.lock" || die "cannot write $outdir/.lock"
flock -w 900 9 || die "another build holds $outdir/.lock for more than 15 minutes"

if [[ -f "$outdir/manifest" && -f "$outdir/vmlinuz" && -f "$outdir/initrd.img" ]] &&
   [[ "$(grep -v '^modules=' "$outdir/manifest")" == "$manifest" ]]; then
    log "image up to date: $outdir (kernel $kpkg $kver, busybox-static $bbver)"
    printf '%s\n' "$outdir"
    exit 0
fi

# ---- download (cached by file name, which carries the version) ----
mkdir -p "$debcache" || die "cannot create $debcache"
fetch() {  # fetch PACKAGE VERSION -> prints the .deb path
    local pkg=$1 ver=$2 deb
    deb=$(find "$debcache" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" -print -quit)
    if [[ -z "$deb" ]]; then
        log "downloading $pkg=$ver"
        (cd "$debcache" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
        deb=$(find "$debcache" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" -print -quit)
        [[ -n "$deb" ]] || die "apt-get download $pkg=$ver produced no .deb in $debcache"
    fi
    printf '%s\n' "$deb"
}
kdeb=$(fetch "$kpkg" "$kver")
bbdeb=$(fetch busybox-static "$bbver")

work=$(mktemp -d "${TMPDIR:-/tmp}/vnet-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "unpacking $(basename "$kdeb") and $(basename "$bbdeb")"
dpkg-deb -x "$kdeb" "$work/kernel" || die "dpkg-deb -x $kdeb failed"
dpkg-deb -x "$bbdeb" "$work/busybox" || die "dpkg-deb -x $bbdeb failed"

vmlinuz=$work/kernel/boot/vmlinuz-$krel
moddir=$work/kernel/lib/modules/$krel
[[ -f "$vmlinuz" ]] || die "$kdeb has no boot/vmlinuz-$krel"
[[ -d "$moddir" ]] || die "$kdeb has no lib/modules/$krel"
bb=$work/busybox/bin/busybox
[[ -x "$bb" ]] || die "$bbdeb has no bin/busybox"

# ---- module load order, computed from each module's depends= line ----
declare -A modpath=()
while IFS= read -r ko; do
    name=$(basename "$ko"); name=${name%%.ko*}; name=${name//-/_}
    modpath[$name]=$ko
done < <(find "$moddir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
(( ${#modpath[@]} > 0 )) || die "no kernel modules found under $moddir/kernel"

declare -A state=()   # name -> visiting | done
order=()
visit() {
    local m=$1 deps d
    m=${m//-/_}
    case ${state[$m]:-} in
        done) return 0 ;;
        visiting) die "module dependency cycle through $m" ;;
    esac
    [[ -n "${modpath[$m]:-}" ]] || die "module $m is not in $kpkg (built in? then drop it from the root set)"
    [[ "${modpath[$m]}" == *.ko ]] || die "module $m is compressed (${modpath[$m]}); this recipe loads plain .ko files with busybox insmod"
    state[$m]=visiting
    deps=$(modinfo -F depends "${modpath[$m]}") || die "modinfo failed on ${modpath[$m]}"
    for d in ${deps//,/ }; do visit "$d"; done
    state[$m]="done"
    order+=("$m")
}
# virtio_pci: the PCI transport; virtio_net: the NICs; virtio_console: the agent's virtio-serial port.
for root in virtio_pci virtio_net virtio_console; do visit "$root"; done
log "module order: ${order[*]}"
# bridge (with stp and llc): loaded only by a guest started with vnet.forwarding=bridge
boot_modules=("${order[@]}")
for root in bridge; do visit "$root"; done
bridge_modules=("${order[@]:${#boot_modules[@]}}")
order=("${boot_modules[@]}")
log "bridge modules: ${bridge_modules[*]}"

# ---- initramfs tree ----
root=$work/root
mkdir -p "$root"/{bin,sbin,etc/vnet,proc,sys,dev,tmp,run,root,var/run,usr/bin,usr/sbin,lib/modules,usr/share/udhcpc}
cp "$bb" "$root/bin/busybox"
while IFS= read -r applet; do
    [[ "$applet" == busybox ]] && continue
    [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done < <("$bb" --list)
for m in "${order[@]}"; do
    cp "${modpath[$m]}" "$root/lib/modules/$m.ko"
    printf '%s\n' "$m" >> "$root/etc/vnet/modules"
done
: > "$root/etc/vnet/modules.bridge"
for m in "${bridge_modules[@]}"; do
    cp "${modpath[$m]}" "$root/lib/modules/$m.ko"
    printf '%s\n' "$m" >> "$root/etc/vnet/modules.bridge"
done
install -m 0755 "$here/guest/init" "$root/init"
install -m 0755 "$here/guest/agent" "$root/sbin/vnet-agent"
install -m 0755 "$here/guest/console" "$root/sbin/vnet-console"
install -m 0755 "$here/guest/udhcpc.script" "$root/usr/share/udhcpc/default.script"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
printf '%s\n' "$manifest" "modules=${order[*]}" > "$root/etc/vnet/manifest"

find "$root" -exec touch -h -d "@$epoch" {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$work/initrd.img" ||
    die "cpio/gzip of the initramfs failed"

# ---- publish (files first, manifest last: a half-written image is never "up to date") ----
rm -f "$outdir/manifest"
install -m 0644 "$vmlinuz" "$outdir/vmlinuz.tmp" && mv -f "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
install -m 0644 "$work/initrd.img" "$outdir/initrd.img.tmp" && mv -f "$outdir/initrd.img.tmp" "$outdir/initrd.img"
printf '%s\n' "$manifest" "modules=${order[*]}" > "$outdir/manifest.tmp" && mv -f "$outdir/manifest.tmp" "$outdir/manifest"
log "built image in $outdir ($(du -h "$outdir/initrd.img" | cut -f1) initramfs, kernel $krel)"
printf '%s\n' "$outdir"
