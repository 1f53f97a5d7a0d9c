#!/usr/bin/env python3
"""Smoke check of one bench command: it must exit 0 and print a JSON list with one
well-formed {"workload", "impl", "value", "unit"} entry per workload it lists.

usage: check_bench_json.py --impl IMPL -- COMMAND [ARGS...]

COMMAND --list gives the expected workloads. No timing is judged: any positive finite
rate passes. Exit 77 from COMMAND (implementation unavailable) is passed on as a skip.
"""
import argparse
import json
import math
import subprocess
import sys

KEYS = {"workload", "impl", "value", "unit"}
DEADLINE = 100  # seconds per command; the ctest timeout is above it


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=DEADLINE)
    if proc.returncode == 77:
        print(f"skipped: {proc.stderr.strip()}")
        sys.exit(77)
    if proc.returncode != 0:
        sys.exit(f"{cmd} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def problems(entries, impl, expected):
    if not isinstance(entries, list):
        return ["output is not a JSON list"]
    found = []
    errors = []
    for e in entries:
        if not isinstance(e, dict) or set(e) != KEYS:
            errors.append(f"entry without exactly the keys {sorted(KEYS)}: {e!r}")
            continue
        found.append(e["workload"])
        if e["impl"] != impl:
            errors.append(f"impl {e['impl']!r}, expected {impl!r}")
        v = e["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            errors.append(f"{e['workload']}: value {v!r} is not a positive finite rate")
        if not isinstance(e["unit"], str) or not e["unit"]:
            errors.append(f"{e['workload']}: empty unit")
    if found != expected:
        errors.append(f"workloads {found}, expected {expected}")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("no command")
    expected = run(without_size(cmd) + ["--list"]).split()
    if not expected:
        sys.exit("the command lists no workload")
    out = run(cmd)
    try:
        entries = json.loads(out)
    except json.JSONDecodeError as e:
        sys.exit(f"output is not JSON ({e}):\n{out}")
    errors = problems(entries, args.impl, expected)
    if errors:
        sys.exit("\n".join(errors))
    print(f"ok: {args.impl}: {', '.join(expected)}")


def without_size(cmd):
    """cmd without its '--n N' pair (the --list query takes no size)."""
    if "--n" not in cmd:
        return list(cmd)
    i = cmd.index("--n")
    return cmd[:i] + cmd[i + 2:]


if __name__ == "__main__":
    main()
