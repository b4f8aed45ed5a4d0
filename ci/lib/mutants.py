#!/usr/bin/env python3
"""Runs the mutation catalogue (fixtures/mutants.toml) with vnet-mutant and prints the
mutation score. Usage: mutants.py VNET_MUTANT CATALOGUE OUT_DIR [NAME...]
For each mutant: `vnet-mutant conformance --mutant NAME --row T/R ... --report OUT/NAME`.
Killed when a cell of its rows is FAIL or ERROR (with `dependent`: also no matching cell
passes); a run that could not start is an error of the harness, not a kill.
Writes OUT_DIR/mutation.md; exit 0 only when every mutant was killed."""
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


def main():
    vnet, catalogue, out_dir = sys.argv[1:4]
    only = set(sys.argv[4:])
    mutants = tomllib.load(open(catalogue, "rb"))["mutant"]
    os.makedirs(out_dir, exist_ok=True)
    # Baseline: the same rows with no mutant must pass, or a "kill" would prove nothing.
    all_rows = sorted({r for m in mutants if not only or m["name"] in only for r in m["rows"]})
    args = [vnet, "conformance", "--report", os.path.join(out_dir, "baseline"), "--parallel", "2"]
    for r in all_rows:
        args += ["--row", r]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True)
    with open(os.path.join(out_dir, "baseline.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    last = (p.stdout.strip().splitlines() or ["no output"])[-1]
    print(f"baseline, no mutant, {len(all_rows)} rows: {last} ({time.monotonic() - t0:.0f} s)", flush=True)
    if p.returncode != 0:
        print("mutants: the rows do not pass without a mutant: no score (see baseline.log)")
        return 1
    rows_md = []
    killed = 0
    ran = 0
    for m in mutants:
        if only and m["name"] not in only:
            continue
        ran += 1
        rep = os.path.join(out_dir, m["name"])
        args = [vnet, "conformance", "--mutant", m["name"], "--report", rep, "--parallel", "2"]
        for r in m["rows"]:
            args += ["--row", r]
        t0 = time.monotonic()
        p = subprocess.run(args, capture_output=True, text=True)
        secs = time.monotonic() - t0
        with open(rep + ".log", "w") as f:
            f.write(p.stdout + p.stderr)
        md = os.path.join(rep, "conformance.md")
        verdict, caught = "no", []
        if p.returncode not in (0, 1) or not os.path.exists(md):
            verdict = f"harness error (exit {p.returncode})"
        else:
            cs = cells(md)
            caught = [f"{r} / {c}: {res}" for r, c, res in cs if res in ("FAIL", "ERROR")]
            ok = bool(caught)
            if "dependent" in m:
                dep = re.compile(m["dependent"])
                passing = [f"{r} / {c}" for r, c, res in cs if dep.search(c) and res == "PASS"]
                if passing:
                    ok = False
                    caught.append("still PASS: " + ", ".join(passing))
            verdict = "yes" if ok else "no"
        killed += verdict == "yes"
        line = f"| {m['name']} | {', '.join(m['rows'])} | {'; '.join(caught) or '-'} | {verdict} | {secs:.0f} |"
        rows_md.append(line)
        print(line, flush=True)
    table = ("| mutant | rows run | cells that caught it | killed | seconds |\n|---|---|---|---|---|\n" +
             "\n".join(rows_md) + f"\n\nmutation score: {killed}/{ran} killed\n")
    with open(os.path.join(out_dir, "mutation.md"), "w") as f:
        f.write(table)
    print(f"mutation score: {killed}/{ran} killed")
    return 0 if killed == ran and ran > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
