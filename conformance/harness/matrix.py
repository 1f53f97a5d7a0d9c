"""The scenario x implementation matrix as Markdown, JSON or one self-contained HTML page."""
import html
import json
import os

from harness.collect import display_path
from harness.registry import CONFORMANCE
from harness.runner import VERDICTS


class Row(object):
    def __init__(self, path, area, expect_failure=False):
        self.path = path
        self.area = area
        self.expect_failure = expect_failure
        self.results = {}        # impl -> Verdict
        self.known = {}          # impl -> (verdict, why) from conformance/expectations/

    def ok(self, impl):
        v = self.results[impl].verdict
        if self.expect_failure:
            return v == "diverges"
        if impl in self.known:
            return v in self.known[impl][0].split("|")
        return v in ("match", "unsupported")


def cell(row, impl):
    v = row.results[impl].verdict
    if row.expect_failure and v == "diverges":
        return v + " (expected)"
    if impl in row.known:
        return v + " (known)" if row.ok(impl) else "%s (expected %s)" % (v, row.known[impl][0])
    return v


def summary(rows, impls):
    out = {}
    for impl in impls:
        counts = dict((v, 0) for v in VERDICTS)
        for row in rows:
            counts[row.results[impl].verdict] += 1
        out[impl] = counts
    return out


def _details(rows, impls):
    """(row, impl, verdict) for every divergence, error and timeout, in matrix order."""
    for row in rows:
        for impl in impls:
            v = row.results[impl]
            if v.verdict not in ("match", "unsupported") and (v.diff or v.reason):
                yield row, impl, v


def unsupported_reasons(rows, impls):
    """{impl: [(reason, count)]}, most frequent first: why scenarios could not run."""
    import re
    out = {}
    for impl in impls:
        counts = {}
        for row in rows:
            v = row.results[impl]
            if v.verdict == "unsupported":
                reason = re.sub(r"^line \d+: ", "", v.reason) or "(no reason given)"
                counts[reason] = counts.get(reason, 0) + 1
        if counts:
            out[impl] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return out


def markdown(rows, impls):
    lines = ["| scenario | " + " | ".join(impls) + " |", "|---" * (len(impls) + 1) + "|"]
    for row in rows:
        lines.append("| %s | %s |" % (display_path(row.path), " | ".join(cell(row, i) for i in impls)))
    lines.append("")
    for impl, counts in summary(rows, impls).items():
        total = sum(counts.values())
        lines.append("- **%s**: %d/%d match; %s" % (impl, counts["match"], total,
                                                  ", ".join("%d %s" % (n, v) for v, n in counts.items() if n and v != "match") or "no other verdicts"))
    reasons = unsupported_reasons(rows, impls)
    if reasons:
        lines += ["", "## Unsupported", ""]
        for impl, items in reasons.items():
            lines += ["- **%s**: %s" % (impl, "; ".join("%s (%d)" % kv for kv in items))]
    details = list(_details(rows, impls))
    if details:
        lines += ["", "## Details", ""]
    for row, impl, v in details:
        against = " vs CPython %s" % " ".join(v.expected_versions) if v.expected_versions else ""
        lines.append("### %s — %s: %s%s" % (display_path(row.path), impl, cell(row, impl), against))
        if impl in row.known and row.known[impl][1]:
            lines += ["", "Known: " + row.known[impl][1]]
        if v.reason:
            lines += ["", v.reason]
        if v.diff:
            lines += ["", "```diff", v.diff, "```"]
        lines.append("")
    return "\n".join(lines) + "\n"


def as_json(rows, impls):
    doc = {"implementations": impls, "scenarios": [], "summary": summary(rows, impls)}
    for row in rows:
        doc["scenarios"].append({
            "path": os.path.relpath(row.path, CONFORMANCE), "area": row.area,
            "expect_failure": row.expect_failure,
            "results": dict((i, row.results[i].verdict) for i in impls),
            "details": dict((i, row.results[i].to_json()) for i in impls)})
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


_COLORS = {"match": "#cfc", "diverges": "#fcc", "unsupported": "#eee", "error": "#fc9", "timeout": "#fd8"}


def as_html(rows, impls):
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>loopcheck conformance</title><style>",
           "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:2px 8px;text-align:left}"
           "pre{background:#f6f6f6;padding:8px;overflow:auto}.add{color:#070}.del{color:#b00}"
           "</style></head><body><h1>loopcheck conformance matrix</h1>",
           "<table><tr><th>scenario</th>" + "".join("<th>%s</th>" % e(i) for i in impls) + "</tr>"]
    for n, row in enumerate(rows):
        cells = []
        for i in impls:
            v = row.results[i].verdict
            link = "<a href='#d%d-%s'>%s</a>" % (n, e(i), e(cell(row, i))) if v not in ("match", "unsupported") else e(cell(row, i))
            cells.append("<td style='background:%s'>%s</td>" % (_COLORS[v], link))
        out.append("<tr><td>%s</td>%s</tr>" % (e(display_path(row.path)), "".join(cells)))
    out.append("</table><h2>Summary</h2><ul>")
    for impl, counts in summary(rows, impls).items():
        out.append("<li><b>%s</b>: %s</li>" % (e(impl), e(", ".join("%d %s" % (c, v) for v, c in counts.items() if c))))
    out.append("</ul>")
    reasons = unsupported_reasons(rows, impls)
    if reasons:
        out.append("<h2>Unsupported</h2><ul>")
        for impl, items in reasons.items():
            out.append("<li><b>%s</b>: %s</li>" % (e(impl), e("; ".join("%s (%d)" % kv for kv in items))))
        out.append("</ul>")
    out.append("<h2>Details</h2>")
    index = dict((id(r), n) for n, r in enumerate(rows))
    for row, impl, v in _details(rows, impls):
        out.append("<h3 id='d%d-%s'>%s — %s: %s</h3>" % (index[id(row)], e(impl), e(display_path(row.path)), e(impl), e(v.verdict)))
        if v.reason:
            out.append("<pre>%s</pre>" % e(v.reason))
        if v.diff:
            diff = []
            for line in v.diff.splitlines():
                cls = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
                diff.append("<span class='%s'>%s</span>" % (cls, e(line)))
            out.append("<pre>%s</pre>" % "\n".join(diff))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


FORMATS = {"md": markdown, "json": as_json, "html": as_html}
