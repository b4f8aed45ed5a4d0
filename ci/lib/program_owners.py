#!/usr/bin/env python3
"""Checks that each program is provided by a package that ci/deps.sh installs.
stdin: "program<TAB>where it is used" lines. argv[1]: the file listing ci/deps.sh's packages.
A program is provided when it resolves on a fresh Debian system's PATH and the package
owning it (dpkg -S, on the path and on the path with links resolved) is a ci/deps.sh package,
a package those depend on (Depends/Pre-Depends, as apt installs them), or one that every
Debian system has (Essential: yes, or Priority: required as debootstrap's minbase).
Prints one line per program that is not, and a closing count; exit 1 if any."""
import os
import shutil
import subprocess
import sys

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OWN = ("vnet", "vnet-mutant", "consumer")
OWN_PREFIXES = ("bench_", "test_", "fuzz_")


def installed_packages():
    fmt = "${Package}\t${Essential}\t${Priority}\t${Depends}\t${Pre-Depends}\t${Provides}\t${db:Status-Abbrev}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, ess, prio, dep, pre, prov, status = (line.split("\t") + [""] * 7)[:7]
        if not status.startswith("ii"):
            continue
        deps = []
        for field in (dep, pre):
            for alt in filter(None, (d.strip() for d in field.split(","))):
                deps.append([a.strip().split(" ")[0].split(":")[0] for a in alt.split("|")])
        pkgs[name] = (ess == "yes", prio == "required", deps)
        for p in filter(None, (x.strip().split(" ")[0] for x in prov.split(","))):
            provides.setdefault(p, []).append(name)
    return pkgs, provides


def closure(roots, pkgs, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in pkgs.get(p, (False, False, []))[2]:
            for a in alts:
                for real in ([a] if a in pkgs else provides.get(a, [])):
                    todo.append(real)
    return seen


def owners(paths):
    """path -> package, with one dpkg -S call."""
    if not paths:
        return {}
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        if ": " not in line:
            continue
        pkg, path = line.split(": ", 1)
        res[path.strip()] = pkg.split(",")[0].split(":")[0].strip()
    return res


def candidates(path):
    real = os.path.realpath(path)
    out = [path, real]
    for p in (path, real):  # merged /usr: /bin/x may be registered as /usr/bin/x and back
        out.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    return list(dict.fromkeys(out))


def main():
    deps = [w for w in open(sys.argv[1]).read().split() if w]
    pkgs, provides = installed_packages()
    wanted = closure([d for d in deps if d in pkgs], pkgs, provides)
    progs = {}
    for line in sys.stdin:
        if "\t" not in line:
            continue
        prog, where = line.rstrip("\n").split("\t", 1)
        progs.setdefault(prog, where)
    resolved, bad = {}, 0
    for prog, where in sorted(progs.items()):
        if prog in OWN or prog.startswith(OWN_PREFIXES):
            continue
        path = shutil.which(prog, path=PATH)
        if path is None:
            print(f"MISSING {prog}: not installed; no package ci/deps.sh installs provides it (used at {where})")
            bad += 1
            continue
        resolved[prog] = candidates(path)
    own = owners(sorted({c for cs in resolved.values() for c in cs}))
    for prog, cands in sorted(resolved.items()):
        where = progs[prog]
        found = [own[c] for c in cands if c in own]
        if not found:
            print(f"UNOWNED {prog}: {cands[0]} belongs to no Debian package (installed by hand?) (used at {where})")
            bad += 1
            continue
        ok = [p for p in found if p in wanted or pkgs.get(p, (False, False, []))[0] or pkgs.get(p, (False, False, []))[1]]
        if ok:
            if os.environ.get("VNET_LIST_PROGRAMS"):
                how = "ci/deps.sh" if ok[0] in wanted else "every Debian system"
                print(f"ok {prog}: {ok[0]} ({how}; used at {where})")
            continue
        print(f"NOT-IN-DEPS {prog}: provided by package {found[0]}, which ci/deps.sh does not install (used at {where})")
        bad += 1
    print(f"ci/check-programs.sh: {len(progs)} programs checked, {bad} not provided by ci/deps.sh")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
