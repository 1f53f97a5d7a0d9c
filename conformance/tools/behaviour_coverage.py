#!/usr/bin/env python3
"""Report which behaviour ids of conformance/BEHAVIOURS.md the scenarios pin.

The catalogue defines ids in headings such as `### SIG-3 — title`; a title starting with
`[retired]` marks a retired id. Scenario files (`conformance/scenarios/**/*.scn`) name the
ids they pin in header lines `pins: ID ID ...` (commas allowed, several `pins:` lines
allowed). An entry with a line `- Observable: no — REASON` names a behaviour no scenario can
show; it is reported as "not observable" with its reason and not counted as uncovered (a
pin of it is noted, not counted).

For each id the report lists the scenarios that pin it, then a summary and the uncovered
ids. Pins of ids the catalogue does not define are errors, so typos cannot pass as
coverage; ids of the older specification catalogue (`B-SIG-7`, `D-9`) are reported with
the ids that replace them, taken from the mapping table at the end of BEHAVIOURS.md.

Exit status: 0 when every live id is pinned and there is no error; 1 when some id is
uncovered (unless --allow-uncovered); 2 when a pin or the catalogue itself is wrong.
Standard library only; runs on Python 3.9 and later.
"""

import argparse
import difflib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CATALOGUE = os.path.normpath(os.path.join(HERE, "..", "BEHAVIOURS.md"))
DEFAULT_SCENARIOS = os.path.normpath(os.path.join(HERE, "..", "scenarios"))

ID_TEXT = r"[A-Z]+(?:-[A-Z]+)*-\d+"
ID_RE = re.compile(r"^%s$" % ID_TEXT)
HEADING_RE = re.compile(r"^###\s+(%s)\s+[\u2014\u2013-]+\s+(.*?)\s*$" % ID_TEXT)
LEGACY_RE = re.compile(r"^(?:B-[A-Z]+(?:-[A-Z]+)*-\d+|D-\d+)$")
TABLE_ROW_RE = re.compile(r"^\|\s*(B-[A-Z]+(?:-[A-Z]+)*-\d+|D-\d+)\s*\|(.*)\|\s*$")
ID_IN_TEXT_RE = re.compile(r"\b%s\b" % ID_TEXT)
SCN_HEADER_RE = re.compile(r"^([A-Za-z_]+):(?:\s+(.*))?$")
SEPARATOR_RE = re.compile(r"^-{4,}\s*$")
RETIRED_PREFIX = "[retired]"
NOT_OBSERVABLE_RE = re.compile(r"^-\s+Observable:\s+no\s*[\u2014\u2013-]+\s*(.+?)\s*$")


class Behaviour(object):
    """One catalogue entry and the scenarios found pinning it."""

    def __init__(self, ident, title, line):
        self.ident = ident
        self.title = title
        self.line = line
        self.retired = title.lower().startswith(RETIRED_PREFIX)
        self.not_observable = None   # the reason, when the entry says `- Observable: no — ...`
        self.scenarios = []

    @property
    def area(self):
        return self.ident.rsplit("-", 1)[0]


class Problem(object):
    """An error found in the catalogue or in a scenario's pins."""

    def __init__(self, path, line, ident, message):
        self.path = path
        self.line = line
        self.ident = ident
        self.message = message

    def render(self):
        return "%s:%s: %s" % (self.path, self.line, self.message)

    def to_json(self):
        return {"path": self.path, "line": self.line, "id": self.ident, "message": self.message}


def read_catalogue(path):
    """Returns (ordered list of Behaviour, legacy mapping, problems)."""
    behaviours = []
    seen = {}
    legacy = {}
    rows = []
    problems = []
    in_fence = False
    current = None
    reason_of = None   # the behaviour whose `Observable: no` reason may continue on this line
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            heading = HEADING_RE.match(line)
            if heading:
                ident, title = heading.group(1), heading.group(2)
                if ident in seen:
                    problems.append(Problem(path, lineno, ident, "%s is defined twice (first at line %d)"
                                            % (ident, seen[ident].line)))
                    continue
                behaviour = Behaviour(ident, title, lineno)
                seen[ident] = behaviour
                behaviours.append(behaviour)
                current = behaviour
                continue
            if line.startswith("#"):
                current = reason_of = None
                continue
            unobservable = NOT_OBSERVABLE_RE.match(line)
            if unobservable and current is not None:
                current.not_observable = unobservable.group(1)
                reason_of = current
                continue
            if reason_of is not None and line.startswith("  ") and line.strip():
                reason_of.not_observable += " " + line.strip()   # the reason goes on
                continue
            reason_of = None
            row = TABLE_ROW_RE.match(line)
            if row:
                legacy[row.group(1)] = ID_IN_TEXT_RE.findall(row.group(2))
                rows.append((lineno, row.group(1)))
    for lineno, old in rows:
        for ident in legacy[old]:
            if ident not in seen:
                problems.append(Problem(path, lineno, ident, "mapping row %s names undefined id %s" % (old, ident)))
    return behaviours, legacy, problems


def scenario_files(root):
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            if name.endswith(".scn"):
                found.append(os.path.join(directory, name))
    return found


def read_pins(path):
    """Returns [(line number, id)] from the header lines `pins:` of one scenario."""
    pins = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if SEPARATOR_RE.match(stripped):
                break
            header = SCN_HEADER_RE.match(stripped)
            if not header:
                break  # first step: the header is over
            if header.group(1) == "pins":
                for token in re.split(r"[\s,]+", header.group(2) or ""):
                    if token:
                        pins.append((lineno, token))
    return pins


def check_pins(behaviours, legacy, scenarios_root, map_legacy):
    """Attach scenarios to behaviours; returns (problems, notes, number of scenarios)."""
    by_id = dict((b.ident, b) for b in behaviours)
    live_ids = [b.ident for b in behaviours if not b.retired]
    problems = []
    notes = []
    files = scenario_files(scenarios_root)
    for path in files:
        shown = os.path.relpath(path, scenarios_root)
        for lineno, ident in read_pins(path):
            if ident in by_id:
                behaviour = by_id[ident]
                if behaviour.retired:
                    problems.append(Problem(shown, lineno, ident, "pins retired id %s" % ident))
                elif behaviour.not_observable:
                    # Allowed (a scenario may show the nearest observable part), but not coverage.
                    notes.append(Problem(shown, lineno, ident, "pins %s, which the catalogue marks not observable;"
                                         " not counted as coverage" % ident))
                elif shown not in behaviour.scenarios:
                    behaviour.scenarios.append(shown)
            elif LEGACY_RE.match(ident):
                replacement = legacy.get(ident)
                if replacement is None:
                    problems.append(Problem(shown, lineno, ident,
                                            "pins specification id %s, which the mapping table does not list" % ident))
                elif map_legacy:
                    notes.append(Problem(shown, lineno, ident, "specification id %s counted as %s"
                                         % (ident, " ".join(replacement))))
                    for new in replacement:
                        if new in by_id and shown not in by_id[new].scenarios:
                            by_id[new].scenarios.append(shown)
                else:
                    problems.append(Problem(shown, lineno, ident, "pins specification id %s; pin the catalogue ids instead: %s"
                                            % (ident, " ".join(replacement) or "(none)")))
            else:
                close = difflib.get_close_matches(ident, live_ids, n=3, cutoff=0.6)
                hint = "; did you mean %s?" % " or ".join(close) if close else ""
                if not ID_RE.match(ident):
                    problems.append(Problem(shown, lineno, ident, "pins %r, which is not an id%s" % (ident, hint)))
                else:
                    problems.append(Problem(shown, lineno, ident, "pins unknown id %s%s" % (ident, hint)))
    return problems, notes, len(files)


def build_report(catalogue, scenarios_root, map_legacy, areas):
    behaviours, legacy, problems = read_catalogue(catalogue)
    pin_problems, notes, n_files = check_pins(behaviours, legacy, scenarios_root, map_legacy)
    problems.extend(pin_problems)
    if areas:
        behaviours = [b for b in behaviours if b.area in areas]
    live = [b for b in behaviours if not b.retired]
    not_observable = [b.ident for b in live if b.not_observable]
    uncovered = [b.ident for b in live if not b.scenarios and not b.not_observable]
    return {
        "behaviours": behaviours,
        "problems": problems,
        "notes": notes,
        "summary": {
            "catalogue": catalogue,
            "scenarios_dir": scenarios_root,
            "scenario_files": n_files,
            "ids": len(live),
            "retired": len(behaviours) - len(live),
            "covered": len(live) - len(uncovered) - len(not_observable),
            "uncovered": len(uncovered),
            "not_observable": len(not_observable),
            "errors": len(problems),
        },
        "uncovered": uncovered,
        "not_observable": not_observable,
    }


def print_text(report, out, uncovered_only):
    for b in report["behaviours"]:
        if uncovered_only and (b.scenarios or b.retired or b.not_observable):
            continue
        state = "retired" if b.retired else ("%d scenario(s)" % len(b.scenarios) if b.scenarios
                                             else "not observable" if b.not_observable else "UNCOVERED")
        out.write("%-12s %-16s %s\n" % (b.ident, state, b.title))
        if b.not_observable and not b.retired:
            out.write("%12s   (%s)\n" % ("", b.not_observable))
        for scenario in b.scenarios:
            out.write("%12s   %s\n" % ("", scenario))
    s = report["summary"]
    out.write("\n%d ids (%d retired not counted), %d covered, %d uncovered, %d not observable; "
              "%d scenario files scanned\n"
              % (s["ids"], s["retired"], s["covered"], s["uncovered"], s["not_observable"], s["scenario_files"]))
    if report["uncovered"]:
        out.write("uncovered: %s\n" % " ".join(report["uncovered"]))
    if report["not_observable"]:
        out.write("not observable: %s\n" % " ".join(report["not_observable"]))
    for note in report["notes"]:
        out.write("note: %s\n" % note.render())
    for problem in report["problems"]:
        out.write("error: %s\n" % problem.render())


def print_json(report, out):
    data = {
        "summary": report["summary"],
        "ids": [{"id": b.ident, "title": b.title, "area": b.area, "retired": b.retired,
                 "not_observable": b.not_observable, "scenarios": b.scenarios} for b in report["behaviours"]],
        "uncovered": report["uncovered"],
        "not_observable": report["not_observable"],
        "notes": [n.to_json() for n in report["notes"]],
        "errors": [p.to_json() for p in report["problems"]],
    }
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Report which ids of the behaviour catalogue the conformance scenarios pin.",
        epilog="Exit status: 0 all live ids pinned and no errors; 1 some id uncovered "
               "(not with --allow-uncovered); 2 unknown, retired or specification ids pinned, "
               "or a malformed catalogue.")
    parser.add_argument("--catalogue", default=DEFAULT_CATALOGUE,
                        help="behaviour catalogue (default: %(default)s)")
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                        help="directory searched recursively for *.scn (default: %(default)s)")
    parser.add_argument("--allow-uncovered", action="store_true",
                        help="report uncovered ids but do not fail because of them")
    parser.add_argument("--map-legacy", action="store_true",
                        help="count pins of specification ids (B-SIG-7, D-9) as pins of the ids the "
                             "mapping table lists for them, instead of reporting them as errors")
    parser.add_argument("--area", action="append", default=[], metavar="AREA",
                        help="only report ids of this area (LOOP, SIG, PIPE-R, ...); repeatable")
    parser.add_argument("--uncovered-only", action="store_true",
                        help="in the text report, list only uncovered ids")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    for path, what in ((args.catalogue, "catalogue"), (args.scenarios, "scenarios directory")):
        if not os.path.exists(path):
            sys.stderr.write("behaviour_coverage: %s not found: %s\n" % (what, path))
            return 2
    report = build_report(args.catalogue, args.scenarios, args.map_legacy, set(args.area))
    if args.json:
        print_json(report, sys.stdout)
    else:
        print_text(report, sys.stdout, args.uncovered_only)
    if report["problems"]:
        return 2
    if report["uncovered"] and not args.allow_uncovered:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
