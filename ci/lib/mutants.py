#!/usr/bin/env python3
"""Runs the mutation catalogue (fixtures/mutants.toml) with vnet-mutant and prints the
mutation score. Usage: mutants.py VNET_MUTANT CATALOGUE OUT_DIR [NAME...]
For each mutant: `vnet-mutant conformance --mutant NAME --row T/R ... --report OUT/NAME`.
Killed when a cell of its rows is FAIL or ERROR (with `dependent`: also no matching cell
passes); a run that could not start is an error of the harness, not a kill.
The baseline (every row the mutants use, with no mutant) must pass, or no kill proves
anything. Baseline rows and mutants are jobs of one pool, VNET_MUTANT_JOBS at once
(default: the number of cores), each a `vnet-mutant conformance --parallel 1` process with
its own lab; the rows' guests boot one at a time per job, so the pool keeps every core on
a guest. The longest jobs go first, so the last job to finish is a short one: a job's
length is its seconds in OUT_DIR/times.tsv (written by every run), else the catalogue's
`seconds` hint of a mutant (its rows' length; a baseline row shares it), else 10 s a row.
Writes OUT_DIR/mutation.md; exit 0 only when the baseline passed and every mutant was killed."""
import concurrent.futures
import os
import re
import subprocess
import sys
import time
import tomllib


def cells(report_md):
    """(row, cell, result) of conformance.md's table lines."""
    out = []
    for line in open(report_md, encoding="utf-8"):
        if not line.startswith("| ") or line.startswith("| row |") or line.startswith("|---"):
            continue
        parts = [p.strip() for p in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(parts) >= 7:
            out.append((parts[0], parts[2], parts[5]))
    return out


def run(vnet, report, rows, mutant=None):
    """One conformance process: (exit status, seconds, last line of its output)."""
    args = [vnet, "conformance", "--report", report, "--parallel", "1"]
    if mutant:
        args += ["--mutant", mutant]
    for r in rows:
        args += ["--row", r]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True)
    secs = time.monotonic() - t0
    with open(report + ".log", "w") as f:
        f.write(p.stdout + p.stderr)
    last = (p.stdout.strip().splitlines() or ["no output"])[-1]
    return p.returncode, secs, last


def verdict(m, rc, report):
    """(killed: "yes" | "no" | "harness error ...", the cells that caught it)."""
    md = os.path.join(report, "conformance.md")
    if rc not in (0, 1) or not os.path.exists(md):
        return f"harness error (exit {rc})", []
    cs = cells(md)
    caught = [f"{r} / {c}: {res}" for r, c, res in cs if res in ("FAIL", "ERROR")]
    ok = bool(caught)
    if "dependent" in m:
        dep = re.compile(m["dependent"])
        passing = [f"{r} / {c}" for r, c, res in cs if dep.search(c) and res == "PASS"]
        if passing:
            ok = False
            caught.append("still PASS: " + ", ".join(passing))
    return ("yes" if ok else "no"), caught


def main():
    vnet, catalogue, out_dir = sys.argv[1:4]
    only = set(sys.argv[4:])
    mutants = [m for m in tomllib.load(open(catalogue, "rb"))["mutant"] if not only or m["name"] in only]
    os.makedirs(os.path.join(out_dir, "baseline"), exist_ok=True)
    rows = sorted({r for m in mutants for r in m["rows"]})
    times_file = os.path.join(out_dir, "times.tsv")
    known = {}
    if os.path.exists(times_file):
        for line in open(times_file, encoding="utf-8"):
            k, _, v = line.rstrip("\n").partition("\t")
            try:
                known[k] = float(v)
            except ValueError:
                pass
    # job: (key, report folder, rows, mutant or None)
    jobs = [("baseline " + r, os.path.join(out_dir, "baseline", r.replace("/", "_")), [r], None) for r in rows]
    jobs += [(m["name"], os.path.join(out_dir, m["name"]), m["rows"], m) for m in mutants]
    hint = {}
    for m in mutants:
        for r in m["rows"]:
            hint[r] = max(hint.get(r, 10.0), float(m.get("seconds", 10.0 * len(m["rows"]))) / len(m["rows"]))
    jobs.sort(key=lambda j: known.get(j[0], sum(hint[r] for r in j[2])), reverse=True)
    workers = int(os.environ.get("VNET_MUTANT_JOBS", "0")) or os.cpu_count() or 1
    t0 = time.monotonic()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run, vnet, rep, rs, m["name"] if m else None): key for key, rep, rs, m in jobs}
        for f in concurrent.futures.as_completed(futures):
            results[futures[f]] = f.result()
    with open(times_file, "w", encoding="utf-8") as f:
        for key, (_, secs, _) in sorted(results.items()):
            f.write(f"{key}\t{secs:.1f}\n")

    base_bad = [r for r in rows if results["baseline " + r][0] != 0]
    base_secs = sum(results["baseline " + r][1] for r in rows)
    print(f"baseline, no mutant, {len(rows)} rows, {workers} at once: "
          f"{len(rows) - len(base_bad)} pass, {len(base_bad)} do not ({base_secs:.0f} s of rows)", flush=True)
    for r in base_bad:
        print(f"  baseline {r}: {results['baseline ' + r][2]} (see {out_dir}/baseline/{r.replace('/', '_')}.log)")
    rows_md = []
    killed = 0
    for m in mutants:
        rc, secs, _ = results[m["name"]]
        v, caught = verdict(m, rc, os.path.join(out_dir, m["name"]))
        killed += v == "yes"
        line = f"| {m['name']} | {', '.join(m['rows'])} | {'; '.join(caught) or '-'} | {v} | {secs:.0f} |"
        rows_md.append(line)
        print(line, flush=True)
    score = f"mutation score: {killed}/{len(mutants)} killed"
    if base_bad:
        score = f"no mutation score: {len(base_bad)} baseline row(s) do not pass without a mutant ({', '.join(base_bad)})"
    table = ("| mutant | rows run | cells that caught it | killed | seconds |\n|---|---|---|---|---|\n" +
             "\n".join(rows_md) + f"\n\n{score}\n")
    with open(os.path.join(out_dir, "mutation.md"), "w") as f:
        f.write(table)
    print(score)
    print(f"mutants: {len(jobs)} jobs in {time.monotonic() - t0:.0f} s")
    return 0 if not base_bad and killed == len(mutants) and mutants else 1


if __name__ == "__main__":
    sys.exit(main())
