#!/usr/bin/env python3
"""Prints the programs a shell script runs: the literal first word of every simple command,
from the syntax tree that `shfmt --to-json` gives (so quoted text, heredocs and comments are
never mistaken for commands). Words after `exec`, `command`, `sudo`, `time`, `env`,
`timeout N`, `xargs`, `nice` and `flock FILE` are followed to the program they run. Functions
the script defines are left out. One "program line" per line on stdout.
Usage: shfmt --to-json < script.sh | shell_programs.py"""
import json
import sys

WRAPPERS = {"exec", "command", "sudo", "env", "nice", "nohup", "xargs", "time"}


def literal(word):
    parts = word.get("Parts", [])
    out = ""
    for p in parts:
        if p.get("Type") == "Lit":
            out += p["Value"]
        elif p.get("Type") in ("SglQuoted",):
            out += p.get("Value", "")
        elif p.get("Type") == "DblQuoted" and all(q.get("Type") == "Lit" for q in p.get("Parts", [])):
            out += "".join(q["Value"] for q in p.get("Parts", []))
        else:
            return None
    return out


def walk(node, found, funcs):
    if isinstance(node, dict):
        t = node.get("Type")
        if t == "FuncDecl":
            funcs.add(node["Name"]["Value"])
        if t == "CallExpr":
            args = node.get("Args") or []
            words = [literal(a) for a in args]
            i = 0
            while i < len(words):
                w = words[i]
                if w is None:
                    # `$SUDO apt-get ...`: a command run through a variable that names sudo
                    parts = args[i].get("Parts", [])
                    if i == 0 and len(parts) == 1 and parts[0].get("Type") == "ParamExp" \
                            and parts[0]["Param"]["Value"] in ("SUDO", "sudo"):
                        i += 1
                        continue
                    break
                if w.isdigit():
                    i += 1
                    continue
                if w in WRAPPERS or w.startswith("-") and i > 0:
                    i += 1
                    continue
                if w in ("timeout",) and i + 1 < len(words):
                    i += 2
                    continue
                if w == "flock" and i + 1 < len(words):
                    i += 2
                    continue
                if "=" in w and i == 0:
                    i += 1
                    continue
                line = node.get("Pos", {}).get("Line", 0)
                found.append((w, line))
                break
        for v in node.values():
            walk(v, found, funcs)
    elif isinstance(node, list):
        for v in node:
            walk(v, found, funcs)


def main():
    try:
        tree = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        sys.exit(f"shell_programs.py: no syntax tree on stdin ({e})")
    found, funcs = [], set()
    walk(tree, found, funcs)
    seen = set()
    for w, line in found:
        if w in funcs or w in seen:
            continue
        seen.add(w)
        print(w, line)


if __name__ == "__main__":
    main()
