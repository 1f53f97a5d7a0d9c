"""Per-run artefacts: DIR/<scenario>/<implementation>/{trace.jsonl, trace.txt, verdict.json, stderr.txt}."""
import json
import os
import re

from harness import trace as tr
from harness.collect import display_path


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write_all(root, rows, impls):
    for row in rows:
        for impl in impls:
            v = row.results[impl]
            d = os.path.join(root, display_path(row.path), _safe(impl))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "verdict.json"), "w", encoding="utf-8") as f:
                json.dump(v.to_json(), f, indent=2)
                f.write("\n")
            run = v.run
            if run is None:
                continue
            with open(os.path.join(d, "trace.jsonl"), "w", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in run.raw)
            with open(os.path.join(d, "trace.txt"), "w", encoding="utf-8") as f:
                f.writelines(tr.render_tokens(e) + "\n" for e in run.events)
            with open(os.path.join(d, "stderr.txt"), "w", encoding="utf-8") as f:
                f.write(run.stderr)
