"""scripts/conform: run scenarios on implementations and print the matrix."""
import argparse
import concurrent.futures
import os
import sys
import time

from harness import artifacts, build, collect, matrix, registry, runner
from harness.scenario import ScenarioError

SKIP_RETURN_CODE = 77

USAGE = """scripts/conform [--impl NAME ...] [--format md|json|html] [--jobs N]
                       [--require NAME ...] [--output FILE] [PATHS ...]"""

EPILOG = """implementations:
  ref                    the C++ reference driver over impl/ (built on demand)
  cpython                asyncio on the default python3
  cpythonX.Y[.Z]         asyncio on that CPython (pyenv), e.g. cpython3.12
  cpython-system         asyncio on /usr/bin/python3
  uvloop                 uvloop on /usr/bin/python3
  python:MODULE:FACTORY  any asyncio-compatible loop factory (host: --host-python)

With no --impl: ref, cpython and (when installed) uvloop. With no PATHS: every
scenario under conformance/scenarios. A Python-hosted implementation is compared
with the recording of the CPython version that hosts it; ref with the newest.
Exit status: 0, or 1 when a --require'd implementation diverges, errors or times
out (or a scenario is malformed), 2 for usage errors. A verdict listed for an
implementation in conformance/expectations/<impl>.txt is a known, accepted
difference: shown as "(known)" and not a failure. Progress goes to stderr.
Environment: LOOPCHECK_TIMEOUT_MULTIPLIER scales every deadline;
LOOPCHECK_BUILD_DIR picks the CMake build (default build/default)."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/conform", usage=USAGE, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Run loopcheck conformance scenarios and print the "
                                            "scenario x implementation matrix.")
    p.add_argument("paths", nargs="*", metavar="PATHS", help="scenario files or directories")
    p.add_argument("--impl", action="append", default=[], metavar="NAME", help="implementation (repeatable)")
    p.add_argument("--format", choices=sorted(matrix.FORMATS), default="md")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    p.add_argument("--require", action="append", default=[], metavar="NAME",
                   help="exit non-zero if NAME diverges, errors or times out (implies --impl NAME)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the matrix here instead of stdout")
    p.add_argument("--host-python", metavar="PATH", help="interpreter for uvloop and python:M:F (default /usr/bin/python3)")
    p.add_argument("--child", metavar="PATH", help="loopcheck-child binary (default: from the build)")
    p.add_argument("--ref-driver", metavar="PATH", help="ref driver binary (default: from the build)")
    p.add_argument("--no-build", action="store_true", help="never run CMake; report what is missing")
    p.add_argument("--ctest", action="store_true",
                   help="one scenario, one implementation: exit 0 match, 1 otherwise, %d unsupported" % SKIP_RETURN_CODE)
    p.add_argument("--artifacts", metavar="DIR",
                   help="keep every run's trace.jsonl, trace.txt, verdict.json and stderr.txt under DIR")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    return p.parse_args(argv)


def default_impls():
    names = ["ref", "cpython"]
    if registry.has_uvloop():
        names.append("uvloop")
    return names


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = []
    for n in args.impl + args.require:
        if n not in names:
            names.append(n)
    if not names:
        names = default_impls()
    try:
        impls = [registry.resolve(n, args.host_python) for n in names]
    except registry.UnknownImplementation as e:
        sys.stderr.write("conform: %s\n" % e)
        return 2
    try:
        paths = collect.find(args.paths)
    except SystemExit as e:
        sys.stderr.write("conform: %s\n" % e)
        return 2
    if not paths:
        sys.stderr.write("conform: no scenarios found\n")
        return 2
    progress = (lambda msg: None) if args.quiet else (lambda msg: (sys.stderr.write(msg + "\n"), sys.stderr.flush()))
    child = build.ensure_child(args.child, allow_build=not args.no_build)
    ref_driver, ref_missing = None, None
    if any(i.kind == "ref" for i in impls):
        ref_driver, ref_missing = build.ensure_ref_driver(args.ref_driver, allow_build=not args.no_build)
        if ref_missing:
            progress("conform: ref: %s" % ref_missing)

    rows, malformed = [], 0
    jobs = []
    known = dict((n, collect.expectations(n)) for n in names)
    for path, sc in collect.load_all(paths):
        area = os.path.basename(os.path.dirname(path))
        row = matrix.Row(path, area, collect.expects_failure(path))
        for n in names:
            k = collect.expected_verdict(known[n], path)
            if k is not None:
                row.known[n] = k
        rows.append(row)
        if isinstance(sc, ScenarioError):
            malformed += 1
            progress("conform: malformed scenario: %s" % sc)
            for impl in impls:
                row.results[impl.name] = runner.Verdict("error", "malformed scenario: %s" % sc)
            continue
        for impl in impls:
            jobs.append((row, sc, impl))

    def work(job):
        row, sc, impl = job
        if impl.kind == "ref" and ref_driver is None:
            return job, runner.Verdict("error", "ref driver unavailable: %s" % ref_missing)
        return job, runner.run_scenario(sc, impl, child, ref_driver)

    start = time.monotonic()
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for (row, sc, impl), verdict in pool.map(work, jobs):
            row.results[impl.name] = verdict
            done += 1
            progress("[%d/%d] %-9s %s %s" % (done, len(jobs), impl.name, collect.display_path(row.path),
                                             verdict.verdict + (" (expected)" if row.expect_failure and verdict.verdict == "diverges" else "")))
    progress("conform: %d runs in %.1f s" % (len(jobs), time.monotonic() - start))

    if args.artifacts:
        artifacts.write_all(args.artifacts, rows, names)
        progress("conform: run artefacts under %s" % args.artifacts)
    if args.ctest:
        return _ctest_status(rows, names)
    text = matrix.FORMATS[args.format](rows, names)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        progress("conform: wrote %s" % args.output)
    else:
        sys.stdout.write(text)
    failed = [(r, n) for r in rows for n in args.require if not r.ok(n)]
    for r, n in failed:
        progress("conform: required %s: %s is %s" % (n, collect.display_path(r.path), r.results[n].verdict))
    return 1 if failed or malformed else 0


def _ctest_status(rows, names):
    """One line of verdict, the diff or reason, and ctest's exit status convention."""
    if len(rows) != 1 or len(names) != 1:
        sys.stderr.write("conform: --ctest takes exactly one scenario and one implementation\n")
        return 2
    row, name = rows[0], names[0]
    v = row.results[name]
    sys.stdout.write("%s on %s: %s\n" % (collect.display_path(row.path), name, v.verdict))
    if v.reason:
        sys.stdout.write(v.reason + "\n")
    if v.diff:
        sys.stdout.write(v.diff + "\n")
    if row.expect_failure:
        return 0 if v.verdict == "diverges" else 1
    if name in row.known:
        return 0 if row.ok(name) else 1
    if v.verdict == "unsupported":
        return SKIP_RETURN_CODE
    return 0 if v.verdict == "match" else 1


if __name__ == "__main__":
    sys.exit(main())
