#!/usr/bin/env bash
# The benchmark command (not part of ci/test.sh): installs what the benchmarks need, builds
# them (Release, -DVNET_BUILD_BENCH=ON), runs every bench/bench_*.cpp, times the lab, and
# prints a Markdown table of the figures with the ratios against the peers (libtins, the
# Linux bridge, vde_switch) and the targets of issue 8.
#
#   1. ci/deps.sh, then vde2 (and linux-perf for profiling, when it installs)
#   2. cmake Release into $VNET_BENCH_OUT (default out/bench), g++, -Werror
#   3. every bench_* executable, JSON into $VNET_BENCH_OUT/results/; the ones on real
#      interfaces (bench_io_switch) need root and are skipped with a message otherwise
#   4. the lab: `vnet lab run fixtures/labs/internal-nat.toml`, seconds from the start of the
#      command to its first "agent ready" line and to its end (root, QEMU and /dev/net/tun;
#      skipped otherwise); with VNET_BENCH_LAB=full also `vnet conformance` (~4 min)
#   5. the table, on stdout and in $VNET_BENCH_OUT/results.md; with VNET_BENCH_WRITE=1 it
#      replaces the generated part of bench/RESULTS.md (between the bench.sh markers),
#      otherwise the script says where it would go
# Every figure is taken with the load average beside it (uptime before each executable):
# the machine has 2 cores shared with other work; the ratios come from the same run.
#
# Environment: VNET_JOBS (default: cores), VNET_BENCH_OUT, VNET_BENCH_MIN_TIME (seconds per
# in-memory benchmark, default 1), VNET_BENCH_FILTER (regex on executable names),
# VNET_BENCH_LAB=none|first|full (default first), VNET_BENCH_WRITE=1, VNET_SKIP_DEPS=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${VNET_JOBS:-$(nproc)}
out=${VNET_BENCH_OUT:-$root/out/bench}
min_time=${VNET_BENCH_MIN_TIME:-1}
filter=${VNET_BENCH_FILTER:-.}
lab_mode=${VNET_BENCH_LAB:-first}
results="$out/results"
mkdir -p "$results"
rm -f "$results"/*.json "$results"/*.load "$results"/*.txt

step() { printf '\n==== %s ====\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
is_root() { [ "$(id -u)" -eq 0 ]; }

if [ "${VNET_SKIP_DEPS:-0}" != 1 ]; then
  step "dependencies"
  "$root/ci/deps.sh"
  extra=()
  for p in vde2 linux-perf; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
  done
  if [ ${#extra[@]} -gt 0 ]; then
    if is_root; then
      export DEBIAN_FRONTEND=noninteractive
      # vde2 is the peer of the real-interface benchmark; linux-perf is only for profiling,
      # so a failure to install it is not fatal.
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends vde2 ||
        { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
          apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends vde2; }
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends linux-perf ||
        echo "ci/bench.sh: linux-perf not installed (profiling falls back to valgrind --tool=callgrind)"
    else
      echo "ci/bench.sh: not root: cannot install ${extra[*]} (the vde_switch rows will be skipped)"
    fi
  fi
fi

step "build (Release, g++, -Werror) in $out"
cache_args=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  cache_args=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DVNET_WERROR=ON \
  -DVNET_BUILD_BENCH=ON -DVNET_BUILD_TESTS=OFF -DVNET_BUILD_TOOLS=ON -DVNET_HEADER_CHECK=OFF "${cache_args[@]}" >/dev/null
cmake --build "$out" -j "$jobs"

{
  echo "date: $(date -u +%Y-%m-%d)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "compiler: $(g++ --version | head -1)"
  echo "libtins: $(pkg-config --modversion libtins 2>/dev/null || echo '?')"
  echo "iperf3: $(iperf3 --version 2>/dev/null | head -1 | cut -d' ' -f2 || echo '?')"
  echo "vde2: $(dpkg-query -W -f='${Version}' vde2 2>/dev/null || echo 'not installed')"
} > "$results/machine.txt"

skipped=()
for exe in "$out"/bench/bench_*; do
  [ -x "$exe" ] || continue
  name=$(basename "$exe")
  [[ $name =~ $filter ]] || continue
  if [ "$name" = bench_io_switch ] && ! is_root; then
    echo "ci/bench.sh: $name needs root (namespaces, veth, TAP): skipped"
    skipped+=("$name (needs root)")
    continue
  fi
  step "$name (load $(load))"
  load > "$results/$name.load"
  args=(--benchmark_out="$results/$name.json" --benchmark_out_format=json)
  [ "$name" = bench_io_switch ] || args+=(--benchmark_min_time="$min_time")
  if ! "$exe" "${args[@]}"; then
    echo "ci/bench.sh: $name failed"
    skipped+=("$name (failed)")
  fi
done

# The lab: seconds from the start of `vnet lab run` to its first "agent ready" note and to
# its end, the command's own lines prefixed with the seconds since the start.
lab_time() {
  local log=$1; shift
  python3 - "$log" "$@" <<'EOF'
import subprocess, sys, time
log, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
first = None
with open(log, "w") as out:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in p.stdout:
        t = time.monotonic() - t0
        if first is None and "agent ready" in line:
            first = t
        out.write(f"{t:8.2f} {line}")
        sys.stdout.write(f"{t:8.2f} {line}")
    rc = p.wait()
    total = time.monotonic() - t0
    out.write(f"# exit {rc}\n# first_agent_ready {first if first is not None else -1:.2f}\n# total {total:.2f}\n")
EOF
}

vnet="$out/tools/vnet/vnet"
if [ "$lab_mode" != none ] && [[ lab =~ $filter || $filter == . ]]; then
  if is_root && [ -c /dev/net/tun ] && command -v qemu-system-x86_64 >/dev/null && [ -x "$vnet" ]; then
    step "lab: vnet lab run fixtures/labs/internal-nat.toml (load $(load))"
    load > "$results/lab.load"
    lab_time "$results/lab.txt" "$vnet" lab run fixtures/labs/internal-nat.toml || true
    if [ "$lab_mode" = full ]; then
      step "lab: vnet conformance (load $(load))"
      load > "$results/conformance.load"
      lab_time "$results/conformance.txt" "$vnet" conformance --report "$out/conformance" || true
    fi
  else
    echo "ci/bench.sh: the lab timing needs root, /dev/net/tun, QEMU and the vnet tool: skipped"
    skipped+=("lab (needs root and QEMU)")
  fi
fi
printf '%s\n' "${skipped[@]+"${skipped[@]}"}" > "$results/skipped.txt"

step "results"
python3 - "$results" > "$out/results.md" <<'EOF'
import glob, json, os, re, sys
res = sys.argv[1]

def load_json(name):
    p = os.path.join(res, name + ".json")
    if not os.path.exists(p):
        return {}
    with open(p) as f:
        d = json.load(f)
    return {b["name"]: b for b in d.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"}

def load_avg(name):
    p = os.path.join(res, name + ".load")
    return open(p).read().strip() if os.path.exists(p) else "-"

def si(v, unit=""):
    if v is None:
        return "-"
    for k, s in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= k:
            return f"{v / k:.2f} {s}{unit}"
    return f"{v:.2f} {unit}".strip()

def rate(b, name):
    x = b.get(name)
    return x.get("items_per_second") if x else None

def counter(b, name, key):
    x = b.get(name)
    return x.get(key) if x else None

def ratio(a, b):
    return a / b if a is not None and b else None

def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"

def verdict(v, target):
    if v is None:
        return "not measured"
    return "met" if v >= target else "missed"

parse, sw, io, nat, dhcp, nv = (load_json(n) for n in
    ("bench_parse", "bench_switch", "bench_io_switch", "bench_nat", "bench_dhcp_server", "bench_netvsc"))

head = []  # (what, figure, peer, ratio, target, verdict, load)
pv, pt = rate(parse, "BM_parse_vnet"), rate(parse, "BM_parse_libtins")
head.append(("parse: vnet views vs libtins (frames/s)", si(pv, "fps"), si(pt, "fps"), fmt_ratio(ratio(pv, pt)),
             ">= 10x", verdict(ratio(pv, pt), 10), load_avg("bench_parse")))
ev, et = rate(parse, "BM_emit_udp_vnet"), rate(parse, "BM_emit_udp_libtins")
head.append(("emit UDP frame: vnet vs libtins (frames/s)", si(ev, "fps"), si(et, "fps"), fmt_ratio(ratio(ev, et)),
             "-", "-", load_avg("bench_parse")))
lu = rate(sw, "learned_unicast")
head.append(("switch in memory, learned unicast, 64 B (frames/s/core)", si(lu, "fps"), "-", "-", ">= 30 M",
             verdict(lu / 30e6 if lu else None, 1), load_avg("bench_switch")))
vt, bt, dt = (counter(io, f"{n}_tcp/iterations:1/real_time", "Gbit_s") for n in ("vnet_switch", "kernel_bridge", "vde_switch"))
head.append(("real interfaces TCP: vnet vs Linux bridge (Gbit/s)", si(vt and vt * 1e9, "bit/s"), si(bt and bt * 1e9, "bit/s"),
             fmt_ratio(ratio(vt, bt)), ">= 0.8x", verdict(ratio(vt, bt), 0.8), load_avg("bench_io_switch")))
head.append(("real interfaces TCP: vnet vs vde_switch (Gbit/s)", si(vt and vt * 1e9, "bit/s"), si(dt and dt * 1e9, "bit/s"),
             fmt_ratio(ratio(vt, dt)), ">= 3x", verdict(ratio(vt, dt), 3), load_avg("bench_io_switch")))
vu, bu, du = (counter(io, f"{n}_udp64/iterations:1/real_time", "rx_kpps") for n in ("vnet_switch", "kernel_bridge", "vde_switch"))
head.append(("real interfaces UDP 64 B: vnet vs Linux bridge (received pps)", si(vu and vu * 1e3, "pps"), si(bu and bu * 1e3, "pps"),
             fmt_ratio(ratio(vu, bu)), ">= 0.8x", verdict(ratio(vu, bu), 0.8), load_avg("bench_io_switch")))
head.append(("real interfaces UDP 64 B: vnet vs vde_switch (received pps)", si(vu and vu * 1e3, "pps"), si(du and du * 1e3, "pps"),
             fmt_ratio(ratio(vu, du)), "-", "-", load_avg("bench_io_switch")))
# Offloads kept: the vnet switch with PACKET_VNET_HDR ports on veths with default offloads,
# against the bridge with default offloads and the bridge with offloads off.
ot, obt = (counter(io, f"{n}_tcp/iterations:1/real_time", "Gbit_s") for n in ("vnet_switch_offload", "kernel_bridge_offload"))
ou, obu = (counter(io, f"{n}_udp64/iterations:1/real_time", "rx_kpps") for n in ("vnet_switch_offload", "kernel_bridge_offload"))
head.append(("real interfaces TCP, offloads kept: vnet vs Linux bridge with default offloads (Gbit/s)", si(ot and ot * 1e9, "bit/s"),
             si(obt and obt * 1e9, "bit/s"), fmt_ratio(ratio(ot, obt)), ">= 0.5x", verdict(ratio(ot, obt), 0.5),
             load_avg("bench_io_switch")))
head.append(("real interfaces TCP, offloads kept: vnet vs Linux bridge, offloads off (Gbit/s)", si(ot and ot * 1e9, "bit/s"),
             si(bt and bt * 1e9, "bit/s"), fmt_ratio(ratio(ot, bt)), ">= 0.8x", verdict(ratio(ot, bt), 0.8),
             load_avg("bench_io_switch")))
head.append(("real interfaces UDP 64 B, offloads kept: vnet vs Linux bridge with default offloads (received pps)",
             si(ou and ou * 1e3, "pps"), si(obu and obu * 1e3, "pps"), fmt_ratio(ratio(ou, obu)), ">= 0.8x",
             verdict(ratio(ou, obu), 0.8), load_avg("bench_io_switch")))
nt = counter(io, "vnet_switch_netvsc_tcp/iterations:1/real_time", "Gbit_s")
nd = counter(io, "vnet_switch_netvsc_tcp/iterations:1/real_time", "netvsc_drops")
head.append(("real interfaces TCP through netvsc ports: vs the vnet switch alone (Gbit/s)", si(nt and nt * 1e9, "bit/s"),
             si(vt and vt * 1e9, "bit/s"), fmt_ratio(ratio(nt, vt)), "0 drops",
             "not measured" if nd is None else ("met" if nd == 0 else f"missed ({nd:.0f} drops)"), load_avg("bench_io_switch")))

print("## Headline: ratios against the peers and targets\n")
print("| what | vnet | peer | ratio | target | verdict | load (1/5/15 min) |")
print("|---|---|---|---|---|---|---|")
for r in head:
    print("| " + " | ".join(r) + " |")

def lab_line(name):
    p = os.path.join(res, name + ".txt")
    if not os.path.exists(p):
        return None
    first = total = rc = None
    for line in open(p):
        m = re.match(r"# (first_agent_ready|total|exit) (-?[0-9.]+)", line)
        if m:
            v = float(m.group(2))
            if m.group(1) == "first_agent_ready": first = v
            elif m.group(1) == "total": total = v
            else: rc = int(v)
    return first, total, rc

print("\n## Lab\n")
print("| what | seconds | exit | load |")
print("|---|---|---|---|")
lab = lab_line("lab")
if lab:
    print(f"| `vnet lab run fixtures/labs/internal-nat.toml`: start to first guest agent ready | {lab[0]:.1f} | | {load_avg('lab')} |")
    print(f"| `vnet lab run fixtures/labs/internal-nat.toml`: whole run (boot, checks, teardown) | {lab[1]:.1f} | {lab[2]} | {load_avg('lab')} |")
else:
    print("| lab run | not measured | | |")
conf = lab_line("conformance")
if conf:
    print(f"| `vnet conformance` (whole suite, VMs) | {conf[1]:.1f} | {conf[2]} | {load_avg('conformance')} |")
else:
    print("| `vnet conformance` | not measured here (VNET_BENCH_LAB=full) | | |")

print("\n## Every benchmark\n")
print("| executable | benchmark | rate (items/s, CPU time) | time per item | counters | load |")
print("|---|---|---|---|---|---|")
for exe in ("bench_parse", "bench_switch", "bench_io_switch", "bench_nat", "bench_dhcp_server", "bench_netvsc"):
    for name, b in load_json(exe).items():
        if b.get("error_occurred"):
            print(f"| {exe} | {name} | skipped: {b.get('error_message', '')} | | | {load_avg(exe)} |")
            continue
        r = b.get("items_per_second")
        per = f"{1e9 / r:.1f} ns" if r else f"{b['real_time']:.0f} {b.get('time_unit', 'ns')} (wall)"
        skip = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
                "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit", "items_per_second"}
        cs = ", ".join(f"{k}={v:.4g}" for k, v in b.items() if k not in skip and isinstance(v, (int, float)))
        print(f"| {exe} | {name} | {si(r)} | {per} | {cs} | {load_avg(exe)} |")

skipped = [l.strip() for l in open(os.path.join(res, "skipped.txt")) if l.strip()] if os.path.exists(os.path.join(res, "skipped.txt")) else []
if skipped:
    print("\nNot run: " + "; ".join(skipped) + ".")
print("\nMachine: " + "; ".join(l.strip() for l in open(os.path.join(res, "machine.txt"))) + ".")
EOF
cat "$out/results.md"

begin='<!-- bench.sh:begin -->'
end='<!-- bench.sh:end -->'
if [ "${VNET_BENCH_WRITE:-0}" = 1 ]; then
  python3 - "$root/bench/RESULTS.md" "$out/results.md" "$begin" "$end" <<'EOF'
import sys
path, gen, begin, end = sys.argv[1:]
body = open(gen).read()
try:
    text = open(path).read()
except FileNotFoundError:
    text = f"# Benchmark results\n\n{begin}\n{end}\n"
if begin not in text or end not in text:
    text += f"\n{begin}\n{end}\n"
a, rest = text.split(begin, 1)
_, b = rest.split(end, 1)
open(path, "w").write(f"{a}{begin}\n{body}{end}{b}")
EOF
  echo "ci/bench.sh: bench/RESULTS.md updated (the part between the bench.sh markers)"
else
  echo "ci/bench.sh: table in $out/results.md; VNET_BENCH_WRITE=1 puts it into bench/RESULTS.md between '$begin' and '$end'"
fi
