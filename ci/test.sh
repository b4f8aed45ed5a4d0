#!/usr/bin/env bash
# The test command: installs what it needs, then builds and runs every test vnet has.
#  0. the layout of every C++ file against .clang-format (ci/format.sh)
#  1. g++ -O2, warnings as errors: unit tests, every header alone, the vnet tool
#  2. clang with ASan + UBSan, warnings as errors: unit tests
#  3. cmake --install, then tests/consumer built against the installed package
#  4. libFuzzer targets (clang), each for VNET_FUZZ_SECONDS (default 10) from fixtures/corpus
#  5. VM tests (label vm) when running as root with /dev/net/tun and QEMU
# Environment: VNET_JOBS (default: cores), VNET_FUZZ_SECONDS, VNET_SKIP_VM=1, VNET_SKIP_FUZZ=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${VNET_JOBS:-$(nproc)}
fuzz_seconds=${VNET_FUZZ_SECONDS:-10}
out=${VNET_BUILD_ROOT:-$root/out}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"

current_step=setup
step() { current_step=$*; printf '\n==== %s ====\n' "$*"; }

# The summary line is printed on every exit path: a step that stops the script (a failed
# build, a failed install) is counted as one failure under its name.
failed_total=0
print_summary() {
  local rc=${1:-$?}
  local last_failed
  last_failed=$(tail -1 "$summary" 2>/dev/null | awk '{print $NF}')
  # a step that already counted its failures is not counted again
  if [ "$rc" -ne 0 ] && ! [ "${last_failed:-0}" -gt 0 ] 2>/dev/null; then
    echo "$(tr ' ' '_' <<<"$current_step") aborted 0 1" >> "$summary"
    echo "ci/test.sh: step '$current_step' stopped the run (exit $rc)" >&2
  fi
  printf '\n==== summary ====\n'
  local passed=0 failed=0 p f
  while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(awk '{print $(NF-1), $NF}' "$summary")
  cat "$summary"
  echo "vnet: $passed passed, $failed failed"
  failed_total=$failed
}
trap print_summary EXIT

step "dependencies"
"$root/ci/deps.sh"

# Compile through ccache: objects are shared between checkouts (paths are made relative
# to the checkout, and no test compiles a path in), so a rerun only compiles what changed.
cache_args=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  cache_args=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DVNET_TEST_PCH=OFF)
fi

# ctest prints "N% tests passed, F tests failed out of T"; keep the counts.
run_ctest() {
  local dir=$1; shift
  local log="$dir/ctest.log" rc=0
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log" || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -n "$line" ]; then
    local failed total
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    echo "$dir $* $((total - failed)) $failed" >> "$summary"
  elif [ "$rc" -eq 0 ]; then
    echo "ci/test.sh: ctest in $dir ran no test" >&2
    return 1
  fi
  return "$rc"
}

step "layout (.clang-format)"
if "$root/ci/format.sh"; then
  echo "layout clang-format 1 0" >> "$summary"
else
  echo "layout clang-format 0 1" >> "$summary"
fi

step "g++ Release -Werror"
cmake -S . -B "$out/gcc" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCMAKE_CXX_COMPILER=g++ -DVNET_WERROR=ON -DCMAKE_INSTALL_PREFIX="$out/prefix" "${cache_args[@]}"
cmake --build "$out/gcc" -j "$jobs"
run_ctest "$out/gcc" -L unit

step "clang ASan+UBSan -Werror"
cmake -S . -B "$out/clang" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DVNET_WERROR=ON \
  -DVNET_SANITIZE=ON -DVNET_HEADER_CHECK=OFF "${cache_args[@]}"
cmake --build "$out/clang" -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest "$out/clang" -L unit

step "install + consumer"
rm -rf "$out/prefix"
cmake --install "$out/gcc" >/dev/null
cmake -S tests/consumer -B "$out/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$out/prefix"
cmake --build "$out/consumer"
"$out/consumer/consumer" "$out/consumer/consumer.pcap"
echo "consumer consumer 1 0" >> "$summary"

step "installed vnet, from an unrelated directory"
# The installed tool finds its tables, labs and guest image recipe in <prefix>/share/vnet.
installed_ok=1
elsewhere=$(mktemp -d)
( cd "$elsewhere" && unset VNET_SOURCE_DIR && "$out/prefix/bin/vnet" conformance --eval model > conformance.txt ) ||
  { installed_ok=0; cat "$elsewhere/conformance.txt"; }
tail -1 "$elsewhere/conformance.txt"
if [ "${VNET_SKIP_VM:-0}" != 1 ] && [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && command -v qemu-system-x86_64 >/dev/null; then
  ( cd "$elsewhere" && unset VNET_SOURCE_DIR && "$out/prefix/bin/vnet" lab run "$out/prefix/share/vnet/fixtures/labs/external-static.toml" ) ||
    installed_ok=0
fi
# The Debian package: unpacked (not installed), its vnet runs the model rows from there.
( cd "$out/gcc" && cpack -G DEB >/dev/null ) || installed_ok=0
deb=$(ls "$out"/gcc/vnet_*.deb 2>/dev/null | head -1 || true)
if [ -n "$deb" ]; then
  mkdir -p "$elsewhere/deb" && dpkg-deb -x "$deb" "$elsewhere/deb"
  ( cd "$elsewhere" && unset VNET_SOURCE_DIR && "$elsewhere/deb/usr/bin/vnet" conformance --eval model | tail -1 ) || installed_ok=0
else
  installed_ok=0
fi
rm -rf "$elsewhere"
echo "installed vnet $installed_ok $((1 - installed_ok))" >> "$summary"

if [ "${VNET_SKIP_FUZZ:-0}" != 1 ]; then
  step "libFuzzer, ${fuzz_seconds}s per target"
  cmake -S . -B "$out/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
    -DVNET_BUILD_FUZZ=ON -DVNET_BUILD_TESTS=OFF -DVNET_BUILD_TOOLS=OFF -DVNET_HEADER_CHECK=OFF "${cache_args[@]}"
  cmake --build "$out/fuzz" -j "$jobs"
  fuzz_ok=0 fuzz_bad=0
  for bin in "$out"/fuzz/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); name=${name#fuzz_}
    corpus="$out/fuzz/corpus/$name"
    rm -rf "$corpus"; mkdir -p "$corpus"
    [ -d "fixtures/corpus/$name" ] && cp -r "fixtures/corpus/$name/." "$corpus/"
    if "$bin" -max_total_time="$fuzz_seconds" -print_final_stats=1 -artifact_prefix="$out/fuzz/crash-$name-" \
        "$corpus" > "$out/fuzz/$name.log" 2>&1; then
      runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out/fuzz/$name.log" | grep -oE '[0-9]+$' || echo "?")
      echo "fuzz_$name: $runs runs in ${fuzz_seconds}s, no crash"
      fuzz_ok=$((fuzz_ok + 1))
    else
      echo "fuzz_$name: FAILED (see $out/fuzz/$name.log)"; tail -30 "$out/fuzz/$name.log"
      fuzz_bad=$((fuzz_bad + 1))
    fi
  done
  echo "fuzz fuzz $fuzz_ok $fuzz_bad" >> "$summary"
  [ "$fuzz_bad" -eq 0 ] || { echo "ci/test.sh: $fuzz_bad fuzz target(s) failed"; exit 1; }
fi

if [ "${VNET_SKIP_VM:-0}" != 1 ]; then
  if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && command -v qemu-system-x86_64 >/dev/null; then
    if (cd "$out/gcc" && ctest -N -L vm | grep -q 'Total Tests: [1-9]'); then
      step "guest image (vm-images/build.sh)"
      # the VM tests use the cached image: bring it up to date with the recipe first
      bash "$root/vm-images/build.sh" "${VNET_IMAGE_DIR:-/var/cache/vnet/image}" >/dev/null
      step "mutation testing (ci/mutants.sh)"
      # every deliberate defect of fixtures/mutants.toml must be caught; the score lands in
      # the conformance report folder, whose index.html (written by the VM tests) shows it
      cmake --build "$out/gcc" -j "$jobs" --target vnet_mutant
      if "$root/ci/mutants.sh" "$out/gcc" "$out/gcc/conformance"; then
        echo "mutants killed 1 0" >> "$summary"
      else
        echo "mutants killed 0 1" >> "$summary"
      fi
      step "VM tests (QEMU, TCG)"
      # every program the VM tests start is logged, then checked against ci/deps.sh
      exec_log="$out/exec.log"; : > "$exec_log"
      vm_rc=0
      VNET_EXEC_LOG="$exec_log" run_ctest "$out/gcc" -L vm || vm_rc=$?
      step "programs run by the VM tests, installed by ci/deps.sh"
      if "$root/ci/check-programs.sh" "$exec_log"; then
        echo "programs exec-log 1 0" >> "$summary"
      else
        echo "programs exec-log 0 1" >> "$summary"
      fi
      # a failed VM test is already counted in the summary; the last line makes the exit status
      [ "$vm_rc" -eq 0 ] || echo "ci/test.sh: VM tests exited $vm_rc" >&2
    fi
  else
    echo "ci/test.sh: VM tests need root, /dev/net/tun and QEMU; not run here" | tee -a "$out/skipped.txt"
  fi
fi

trap - EXIT
print_summary 0
[ "$failed_total" -eq 0 ]
