#!/usr/bin/env python3
"""The layering check: every file of src/ and include/ belongs to a tier, and
neither an #include nor a call goes from a tier to a higher one, or from one
command to another, or round a circle.

Tiers, lowest first:
  0 kernels   src/kern/*, their interface mt_kern.h, and mt_err (statuses)
  1 library   mt_*            (returns statuses; no option names, no exit codes)
  2 base      app_log, app_exit, app_config, app_opt
  3 services  app_data, app_ckpt, app_viz (and any other app_* not listed)
  4 commands  app_train, app_eval, app_predict, app_info, app_fetch, app_cmd
  5 main      main
Within a tier, includes and calls may not form a circle; commands may not use
each other at all.  Calls are read from `nm` of the objects when a build dir
is given.  Usage: check_tiers.py ROOT [OBJDIR]; exit 1 with one line per
problem."""
import os, re, subprocess, sys

BASE = {"app_log", "app_exit", "app_config", "app_opt"}
COMMANDS = {"app_train", "app_eval", "app_predict", "app_info", "app_fetch", "app_cmd", "app_export"}


def tier(name):
    """The tier of a module ("mt_data") or of a file ("mt_kern.h")."""
    if name in ("mt_kern.h", "mt_err", "mt_err.h", "mt_err.c") or name.startswith("kern_"):
        return 0
    mod = module_of(name)
    if mod.startswith("mt_"):
        return 1
    if mod in BASE:
        return 2
    if mod in COMMANDS:
        return 4
    if mod == "main":
        return 5
    if mod.startswith("app_"):
        return 3
    return None


def module_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def find_circle(edges):
    """A list of modules forming a circle, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                c = visit(n)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            c = visit(m)
            if c:
                return c
    return None


def check(edges, what, problems):
    for a in sorted(edges):
        for b in sorted(edges[a]):
            ta, tb = tier(a), tier(b)
            if ta is None or tb is None or a == b:
                continue
            if tb > ta:
                problems.append(f"{a} {what} {b}: upward (tier {ta} -> {tb})")
            elif ta == tb == 4 and "app_cmd" not in (module_of(a), module_of(b)):
                problems.append(f"{a} {what} {b}: one command uses another")
    circle = find_circle({a: {b for b in bs if b != a} for a, bs in edges.items()})
    if circle:
        problems.append(f"{what} circle: {' -> '.join(circle)}")


def node(f):
    """A file's module; the kernel table's header is a module of its own (the
    kernels' interface: mt_kern.c includes kern_impl.h, which includes
    mt_kern.h, and that is no circle)."""
    return "mt_kern.h" if f == "mt_kern.h" else module_of(f)


def includes(root):
    edges = {}
    for d in ("src", "src/kern", "include"):
        full = os.path.join(root, d)
        if not os.path.isdir(full):
            continue
        for f in os.listdir(full):
            if not f.endswith((".c", ".h")):
                continue
            m = node(f)
            with open(os.path.join(full, f), encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    g = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if g:
                        edges.setdefault(m, set()).add(node(os.path.basename(g.group(1))))
            edges.setdefault(m, set())
    return edges


def calls(objdir):
    defined, used = {}, {}
    for dirpath, _, files in os.walk(objdir):
        for f in files:
            if not f.endswith(".o") or "/tests" in dirpath or "/bench" in dirpath or "/fuzz" in dirpath:
                continue
            m = module_of(f)
            out = subprocess.run(["nm", os.path.join(dirpath, f)], capture_output=True, text=True).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in "TDBR":
                    defined[parts[2]] = m
                elif len(parts) == 2 and parts[0] == "U":
                    used.setdefault(m, set()).add(parts[1])
    edges = {}
    for m, syms in used.items():
        edges[m] = {defined[s] for s in syms if s in defined}
    return edges


def main():
    root = sys.argv[1]
    problems = []
    check(includes(root), "includes", problems)
    if len(sys.argv) > 2:
        check(calls(sys.argv[2]), "calls", problems)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
