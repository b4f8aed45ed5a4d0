#!/bin/sh
# shellcheck disable=SC2016  # ${Package} is dpkg-query's format, not the shell's
# mmdebstrap customize hook of vm-images/build-eflow.sh: $1 is the guest's root.
# Purges perl, which usrmerge (installed by mmdebstrap for the /usr merge, already done and
# kept by usr-is-merged) pulled in (about 50 MB of the initramfs), then lists the packages.
set -eu
root=$1
purge=$(chroot "$root" dpkg-query -W -f '${Package}\n' |
        grep -E '^(usrmerge|perl|perl-modules-[0-9.]+|libperl[0-9.]+|lib[a-z0-9-]+-perl|libgdbm-compat4)$' || true)
# shellcheck disable=SC2086  # one word per package
[ -z "$purge" ] || chroot "$root" dpkg --purge $purge
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' > "$root/.vnet-packages"
