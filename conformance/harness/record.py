"""scripts/record: fill in (or check) expected traces from every CPython on the machine."""
import argparse
import concurrent.futures
import os
import sys
import time

from harness import build, collect, registry, runner
from harness import trace as tr
from harness.scenario import ScenarioError, version_key

EPILOG = """Recording runs each scenario under every CPython found (pyenv 3.9+, python3,
/usr/bin/python3) or those given with --python, applies the scenario's declared
nondeterminism, and rewrites everything below the `----` line: one trace per
distinct result, labelled with the versions that produced it. Traces for versions
not run this time are kept. A version the scenario does not apply to (requires:)
or whose asyncio lacks a step is skipped with the reason.

--check records nothing: it re-runs every CPython --runs times and fails when a
run does not match the recording within the declared nondeterminism.

Exit status: 0; 1 when a run fails, a check fails or a scenario is malformed."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/record", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Record expected traces of loopcheck scenarios from real CPython.")
    p.add_argument("paths", nargs="*", metavar="PATHS", help="scenario files or directories (default: the corpus)")
    p.add_argument("--python", action="append", default=[], metavar="PATH", help="interpreter to use (repeatable)")
    p.add_argument("--check", action="store_true", help="verify reproducibility instead of recording")
    p.add_argument("--runs", type=int, default=3, help="runs per version with --check (default 3)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    p.add_argument("--child", metavar="PATH", help="loopcheck-child binary (default: from the build)")
    return p.parse_args(argv)


SUPPORTED_MINORS = ("3.9", "3.10", "3.11", "3.12", "3.13")


def interpreters(explicit):
    """(version, path) to record with; says which supported versions are skipped and why."""
    if not explicit:
        found = registry.all_cpythons()
        have = set(".".join(v.split(".")[:2]) for v, _ in found)
        for minor in SUPPORTED_MINORS:
            if minor not in have:
                log("record: skipping CPython %s: not installed (pyenv or /usr/bin/python3); "
                    "its existing traces are kept" % minor)
        return found
    out = []
    for path in explicit:
        v = registry.python_version(path)
        if v is None:
            log("record: skipping %s: it does not run" % path)
        elif version_key(v)[:2] < registry.MIN_PYTHON:
            log("record: skipping %s: CPython %s is older than 3.9" % (path, v))
        else:
            out.append((v, path))
    return out


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    pythons = interpreters(args.python)
    if not pythons:
        log("record: no CPython >= 3.9 found")
        return 1
    log("record: CPython %s" % ", ".join("%s (%s)" % (v, p) for v, p in pythons))
    child = build.ensure_child(args.child)
    scenarios = collect.load_all(collect.find(args.paths))
    bad = 0
    start = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
    for n, (path, sc) in enumerate(scenarios, 1):
        name = collect.display_path(path)
        if isinstance(sc, ScenarioError):
            log("[%d/%d] %s: malformed: %s" % (n, len(scenarios), name, sc))
            bad += 1
            continue
        if args.check:
            ok = check(pool, sc, pythons, child, args.runs, "[%d/%d] %s" % (n, len(scenarios), name))
        else:
            ok = record(pool, sc, pythons, child, "[%d/%d] %s" % (n, len(scenarios), name))
        bad += 0 if ok else 1
    pool.shutdown()
    log("record: %d scenarios, %d failed, %.1f s" % (len(scenarios), bad, time.monotonic() - start))
    return 1 if bad else 0


def _runs(pool, sc, pythons, child, times):
    """{version: [RunResult or skip reason str]} for every applicable interpreter."""
    jobs = {}
    for v, path in pythons:
        unmet = sc.requirements_met(v)
        if unmet:
            jobs[v] = "requires %s" % unmet
            continue
        impl = registry.Implementation("cpython" + v, "python", path, "asyncio", v)
        deadline = float(sc.header.get("timeout", runner.DEFAULT_DEADLINE)) * runner.multiplier()
        jobs[v] = [pool.submit(runner.run_driver, runner.driver_command(impl, None), sc, impl, child, deadline)
                   for _ in range(times)]
    out = {}
    for v, j in jobs.items():
        out[v] = j if isinstance(j, str) else [f.result() for f in j]
    return out


def record(pool, sc, pythons, child, label):
    results = _runs(pool, sc, pythons, child, 1)
    traces = {}      # body text -> ExpectedTrace
    notes = []
    failed = False
    for v in sorted(results, key=version_key):
        res = results[v]
        if isinstance(res, str):
            notes.append("%s skipped: %s" % (v, res))
            continue
        res = res[0]
        if res.ending == "unsupported":
            notes.append("%s skipped: unsupported: %s" % (v, res.reason))
            continue
        if res.ending != "done":
            notes.append("%s FAILED: %s: %s%s" % (v, res.ending, res.reason, runner._stderr_tail(res)))
            failed = True
            continue
        t = tr.generalize(res.events, sc.rules(), [v])
        key = "\n".join(t.body_lines())
        if key in traces:
            traces[key].versions.append(v)
        else:
            traces[key] = t
    if failed:
        log("%s: not written\n    %s" % (label, "\n    ".join(notes)))
        return False
    run_versions = set(v for v in results if not isinstance(results[v], str))
    kept = []
    for old in sc.traces:   # versions this machine did not run keep their recording
        keep = [v for v in old.versions if v not in run_versions and v not in [x for t in traces.values() for x in t.versions]]
        if keep:
            old.versions = keep
            kept.append(old)
    all_traces = list(traces.values()) + kept
    all_traces.sort(key=lambda t: min(version_key(v) for v in t.versions))
    for t in all_traces:
        t.versions.sort(key=version_key)
    if not all_traces:
        log("%s: no CPython could run it\n    %s" % (label, "\n    ".join(notes)))
        return False
    text = sc.prologue.rstrip("\n") + "\n----\n" + "\n\n".join("\n".join(t.render_lines()) for t in all_traces) + "\n"
    with open(sc.path, "w", encoding="utf-8") as f:
        f.write(text)
    log("%s: %d distinct trace(s) over %s%s" % (label, len(all_traces), ", ".join(
        v for t in all_traces for v in t.versions), "".join("\n    " + n for n in notes)))
    return True


def check(pool, sc, pythons, child, runs, label):
    results = _runs(pool, sc, pythons, child, runs)
    problems, checked = [], 0
    for v in sorted(results, key=version_key):
        res_list = results[v]
        if isinstance(res_list, str):
            continue
        expected = sc.trace_for(v)
        for i, res in enumerate(res_list, 1):
            if res.ending == "unsupported" and expected is None:
                continue
            if expected is None:
                problems.append("%s: no recording for this version (run scripts/record)" % v)
                break
            if res.ending != "done":
                problems.append("%s run %d: %s: %s" % (v, i, res.ending, res.reason))
                continue
            cmp = tr.compare(expected, res.events, sc.rules())
            checked += 1
            if not cmp.ok:
                problems.append("%s run %d differs from the recording:\n%s" % (v, i, cmp.diff))
    if problems:
        log("%s: NOT reproducible\n    %s" % (label, "\n    ".join("\n    ".join(p.splitlines()) for p in problems)))
        return False
    log("%s: reproducible (%d runs)" % (label, checked))
    return True


if __name__ == "__main__":
    sys.exit(main())
