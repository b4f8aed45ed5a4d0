#!/usr/bin/env bash
# Mutation testing of the emulated world: every mutant of fixtures/mutants.toml runs the
# conformance rows that cite the rule it breaks, with `vnet-mutant` (vnet with the defects
# of include/vnet/core/mutant.hpp compiled in); each must be caught by a FAIL or ERROR cell.
# Prints the score table and writes it to OUT/mutation.md. Needs root (VMs), like the suite.
# Usage: ci/mutants.sh [BUILD_DIR] [OUT_DIR] [MUTANT...]   (default out/gcc, out/mutants)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/out/gcc}
out=${2:-$root/out/mutants}
shift $(( $# < 2 ? $# : 2 ))
tool="$build/tools/vnet/vnet-mutant"
[ -x "$tool" ] || cmake --build "$build" --target vnet_mutant
exec python3 "$root/ci/lib/mutants.py" "$tool" "$root/fixtures/mutants.toml" "$out" "$@"
