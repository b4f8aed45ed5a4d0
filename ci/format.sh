#!/usr/bin/env bash
# Checks (or, with --fix, applies) the layout of the C++ sources against .clang-format.
# Usage: ci/format.sh [--fix]
# Exit: 0 every file as .clang-format lays it out, 1 files that differ (named), 2 bad use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v clang-format >/dev/null || { echo "ci/format.sh: clang-format is needed (ci/deps.sh installs it)" >&2; exit 2; }
fix=
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  *) echo "usage: ci/format.sh [--fix]" >&2; exit 2 ;;
esac
# The tracked files of a clone; in an exported tree (no .git) every C++ file outside out/.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.hpp' '*.cpp')
else
  mapfile -t files < <(find . -path ./out -prune -o -type f \( -name '*.hpp' -o -name '*.cpp' \) -print | sed 's|^\./||' | LC_ALL=C sort)
fi
[ "${#files[@]}" -gt 0 ] || { echo "ci/format.sh: no C++ files found" >&2; exit 2; }
if [ -n "$fix" ]; then
  clang-format --style=file -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --style=file "$f" | cmp -s "$f" -; then
    echo "ci/format.sh: $f is not laid out as .clang-format says (ci/format.sh --fix)"
    bad=$((bad + 1))
  fi
done
echo "ci/format.sh: ${#files[@]} files checked, $bad not formatted"
[ "$bad" -eq 0 ]
