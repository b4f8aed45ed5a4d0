#!/usr/bin/env bash
# Checks that every external program vnet runs is installed by ci/deps.sh, so that a
# well-stocked machine cannot hide a missing install step.
#
# Programs are collected from:
#  1. the C++ sources: the first word of every argv literal handed to io::run / io::spawn
#     and the lab's helpers (run({"ip", ...}), spawn({"dnsmasq", ...}), argv{"busybox", ...});
#  2. the host-side shell scripts (ci/*.sh, vm-images/*.sh, tests/*/*.sh): the first word of every simple
#     command, read from the syntax tree shfmt gives (ci/lib/shell_programs.py);
#  3. optionally, exec logs written by io::spawn when VNET_EXEC_LOG is set (one argv[0] per
#     line, and the commands of `sh -c` scripts): what the tests really ran.
# Each program must resolve on PATH, and the package that owns it (dpkg -S) must be one that
# ci/deps.sh installs, or an Essential package that every Debian system has. A program that
# is missing, or owned by another package, is named with its package and where it is used.
#
# Usage: ci/check-programs.sh [--list] [EXEC_LOG...]
#   --list  also print every program that is provided, with its package.
# Exit: 0 all provided, 1 a program not provided by ci/deps.sh, 2 bad use.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

list=
logs=()
for a in "$@"; do
  case "$a" in
    --list) list=1 ;;
    -*) echo "ci/check-programs.sh: unknown option $a" >&2; exit 2 ;;
    *) [ -r "$a" ] || { echo "ci/check-programs.sh: $a: cannot read" >&2; exit 2; }; logs+=("$a") ;;
  esac
done

command -v dpkg >/dev/null || { echo "ci/check-programs.sh: dpkg is needed (Debian only)" >&2; exit 2; }

# The packages ci/deps.sh installs: the words of its packages=( ... ) array.
mapfile -t deps < <(sed -n '/^packages=(/,/^)/p' ci/deps.sh | sed -e 's/#.*//' -e 's/packages=(//' -e 's/)//' |
  tr -s ' \t' '\n' | sed '/^$/d')
[ "${#deps[@]}" -gt 0 ] || { echo "ci/check-programs.sh: no packages found in ci/deps.sh" >&2; exit 2; }
declare -A in_deps=()
for p in "${deps[@]}"; do in_deps[$p]=1; done

declare -A origin=()
add() {  # add PROGRAM ORIGIN
  local prog=$1 where=$2
  [[ "$prog" =~ ^[A-Za-z0-9][A-Za-z0-9_.+-]*$ ]] || return 0
  [ -n "${origin[$prog]:-}" ] || origin[$prog]=$where
}

# 1. C++ sources: argv literals in program position.
while IFS= read -r hit; do
  file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}; text=${rest#*:}
  prog=$(sed -E 's/.*\{"([^"]+)".*/\1/' <<<"$text")
  add "$prog" "$file:$line"
done < <(grep -rnoE '(io::run|io::spawn|\.spawn|\bspawn|\bmust|\bns_exec|\brun_in|\bmust_ok|\bexec)\(\{"[^"]+"|std::vector<std::string> (argv|args|client|server|cmd)\{"[^"]+"' \
           --include=*.hpp --include=*.cpp include tools tests bench)

# Command lines handed to popen() / std::system(): in the files that call them, a string
# literal that starts with a word and an option ("tshark -n -r ...", "command -v tshark").
while IFS= read -r file; do
  while IFS= read -r hit; do
    line=${hit%%:*}; text=${hit#*:}
    prog=$(sed -E 's/^"(command -v )?([A-Za-z0-9_.+-]+) .*/\2/' <<<"$text")
    add "$prog" "$file:$line"
  done < <(grep -noE '"(command -v )?[a-z][a-z0-9_.+-]* (-[A-Za-z] |[>|])' "$file")
done < <(grep -rlE '::popen\(|std::system\(' --include=*.hpp --include=*.cpp include tools tests bench)

# Shell lines built in C++ that exec a program: "exec vde_switch -t ...".
while IFS= read -r hit; do
  file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}; text=${rest#*:}
  add "$(sed -E 's/^"exec ([^ ]+).*/\1/' <<<"$text")" "$file:$line"
done < <(grep -rnoE '"exec [a-z][a-z0-9_.+-]* ' --include=*.hpp --include=*.cpp include tools tests bench)

# Shell words that are not programs: keywords and builtins.
is_builtin() {
  case "$1" in
    if|then|else|elif|fi|for|while|until|do|done|case|esac|in|function|select|time|coproc) return 0 ;;
  esac
  local t
  t=$(type -t "$1" 2>/dev/null || true)
  [ "$t" = builtin ] || [ "$t" = keyword ]
}

command -v shfmt >/dev/null || { echo "ci/check-programs.sh: shfmt is needed (ci/deps.sh installs it)" >&2; exit 2; }
programs_of_script() {  # programs_of_script FILE|- -> "program line" lines, from shfmt's syntax tree
  local src=$1 out
  [ "$src" = - ] && src=/dev/stdin
  # A script that cannot be read or parsed is an error of this check, never "nothing found".
  out=$(shfmt --to-json < "$src" | python3 "$root/ci/lib/shell_programs.py") ||
    { echo "ci/check-programs.sh: cannot read the commands of $2" >&2; return 2; }
  [ -z "$out" ] || printf '%s\n' "$out"
}

# 2. Host-side scripts: the first word of every simple command, from the syntax tree.
for f in ci/*.sh vm-images/*.sh tests/*/*.sh; do
  [ -f "$f" ] || continue
  while read -r w line; do
    [ "$w" = "!parse-error" ] && exit 2
    is_builtin "$w" && continue
    add "$w" "$f:$line"
  done < <(programs_of_script "$f" "$f" || echo "!parse-error $f")
done

# 3. Exec logs written by io::spawn (VNET_EXEC_LOG).
for log in "${logs[@]}"; do
  while IFS=$'\t' read -r kind text; do
    case "$kind" in
      exec) is_builtin "$text" || add "$(basename -- "$text")" "run by a test ($log)" ;;
      sh)
        while read -r w _; do
          [ "$w" = "!parse-error" ] && exit 2
          is_builtin "$w" || add "$w" "a sh -c script run by a test ($log)"
        done < <(printf '%b\n' "$text" | programs_of_script - "a sh -c script in $log" || echo "!parse-error $log") ;;
    esac
  done < <(sort -u -- "$log")  # each distinct line once
done

# Resolve and check owners in one pass (ci/lib/program_owners.py): one dpkg -S for all.
deps_file=$(mktemp)
trap 'rm -f "$deps_file"' EXIT
printf '%s\n' "${deps[@]}" > "$deps_file"
for prog in "${!origin[@]}"; do printf '%s\t%s\n' "$prog" "${origin[$prog]}"; done |
  VNET_LIST_PROGRAMS=$list python3 "$root/ci/lib/program_owners.py" "$deps_file"
