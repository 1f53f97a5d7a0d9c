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
