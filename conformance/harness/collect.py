"""Finding and loading scenario files."""
import os

from harness.registry import CONFORMANCE
from harness.scenario import ScenarioError, load

SCENARIOS = os.path.join(CONFORMANCE, "scenarios")


def find(paths):
    """Every .scn file named by `paths` (files or directories), sorted; default: the corpus."""
    out = []
    for p in paths or [SCENARIOS]:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                out.extend(os.path.join(root, f) for f in files if f.endswith(".scn"))
        elif os.path.exists(p):
            out.append(p)
        else:
            raise SystemExit("no such scenario file or directory: %s" % p)
    return sorted(set(os.path.abspath(p) for p in out))


def display_path(path):
    """scenarios/loop/x.scn -> loop/x ; others relative to conformance/."""
    rel = os.path.relpath(path, CONFORMANCE)
    if rel.startswith(".."):
        rel = path
    if rel.startswith("scenarios" + os.sep):
        rel = rel[len("scenarios") + 1:]
    return rel[:-4] if rel.endswith(".scn") else rel


def load_all(paths):
    """[(path, Scenario or ScenarioError)]."""
    out = []
    for p in paths:
        try:
            out.append((p, load(p)))
        except ScenarioError as e:
            out.append((p, e))
        except (OSError, UnicodeDecodeError) as e:
            out.append((p, ScenarioError(p, 0, "cannot read: %s" % e)))
    return out


def expects_failure(path):
    """Self-test scenarios named *.fail.scn must diverge from their (deliberately wrong) trace."""
    return ".fail." in os.path.basename(path)


EXPECTATIONS = os.path.join(CONFORMANCE, "expectations")


def expectations(impl):
    """Known verdicts for one implementation: {scenario display path or glob: (verdict, why)}.

    conformance/expectations/<impl>.txt holds lines `SCENARIO VERDICT  # why` (VERDICT may list
    alternatives, `match|diverges`, for a difference that comes and goes), so an accepted
    difference lives with the implementation that has it, not in the scenario.
    """
    import re
    path = os.path.join(EXPECTATIONS, re.sub(r"[^A-Za-z0-9_.-]", "_", impl) + ".txt")
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            text, _, why = line.partition("#")
            words = text.split()
            if not words:
                continue
            if len(words) != 2:
                raise SystemExit("%s:%d: expected 'SCENARIO VERDICT  # why'" % (path, n))
            out[words[0]] = (words[1], why.strip())
    return out


def expected_verdict(table, path):
    """(verdict, why) the expectations table gives for a scenario, or None."""
    import fnmatch
    name = display_path(path)
    if name in table:
        return table[name]
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return None
