"""Scenario files: parse, validate and print.

    description: ...          header, one `key: value` per line
    pins: B-LOOP-1
    call_soon a               steps, one per line
    run_once
    ----                      separator
    trace: 3.11.7 3.12.1      expected traces, each labelled with CPython versions
    callback a

See conformance/README.md for the language and INTERPRETING.md for its meaning.
"""
import json
import re

from harness import tokens as tok
from harness import vocabulary
from harness.trace import ExpectedTrace, parse_trace_line, TraceSyntaxError

SEPARATOR = re.compile(r"^-{4,}\s*$")
_HEADER = re.compile(r"^([A-Za-z_]+):(?:\s+(.*))?$")
_NAME = re.compile(r"^[A-Za-z_@$][A-Za-z0-9_.:@$/+\-]*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_REQUIRE = re.compile(r"^py(>=|<=|==|<|>)(\d+)\.(\d+)$")


class ScenarioError(ValueError):
    """A malformed scenario: names the file, the line and what was expected."""

    def __init__(self, path, line, message):
        ValueError.__init__(self, "%s:%s: %s" % (path, line, message))
        self.path = path
        self.line = line
        self.message = message


class Str(str):
    """A quoted string argument (as opposed to a bare name)."""


class Step(object):
    """One step: `op args... key=value...`; `on` steps carry a target and a body."""

    def __init__(self, line, op, args=None, kw=None, target=None, body=None):
        self.line = line
        self.op = op
        self.args = args or []
        self.kw = kw or {}
        self.target = target
        self.body = body or []

    def __eq__(self, other):
        return (isinstance(other, Step) and self.op == other.op and self.args == other.args
                and [type(a) for a in self.args] == [type(a) for a in other.args]
                and self.kw == other.kw and self.target == other.target and self.body == other.body)

    def __repr__(self):
        return "Step(%r)" % self.render()

    def to_json(self):
        obj = {"line": self.line, "op": self.op,
               "args": [_value_json(a) for a in self.args],
               "kw": dict((k, _value_json(v)) for k, v in sorted(self.kw.items()))}
        if self.op == "on":
            obj["target"] = self.target
            obj["body"] = [s.to_json() for s in self.body]
        return obj

    def render(self):
        if self.op == "on":
            return "on %s: %s" % (self.target, "; ".join(s.render() for s in self.body))
        parts = [self.op] + [render_value(a) for a in self.args]
        parts += ["%s=%s" % (k, render_value(v)) for k, v in sorted(self.kw.items())]
        return " ".join(parts)


class Scenario(object):
    def __init__(self, path):
        self.path = path
        self.header = {}          # key -> str; multi-valued keys -> list of str
        self.steps = []
        self.traces = []          # ExpectedTrace, in file order
        self.prologue = ""        # file text before the separator, kept verbatim by record

    @property
    def area(self):
        parts = self.path.replace("\\", "/").split("/")
        return parts[-2] if len(parts) >= 2 else ""

    def rules(self):
        return self.header.get("nondeterministic", [])

    def trace_for(self, version):
        for t in self.traces:
            if version in t.versions:
                return t
        return None

    def newest_trace(self):
        best = None
        for t in self.traces:
            for v in t.versions:
                if best is None or version_key(v) > version_key(best[0]):
                    best = (v, t)
        return best

    def requirements_met(self, version):
        """None when `version` satisfies `requires:`, else the unmet term."""
        for term in self.header.get("requires", "").split():
            m = _REQUIRE.match(term)
            if not m:
                continue
            have = version_key(version)[:2]
            want = (int(m.group(2)), int(m.group(3)))
            op = m.group(1)
            ok = {">=": have >= want, "<=": have <= want, "==": have == want,
                  "<": have < want, ">": have > want}[op]
            if not ok:
                return term
        return None

    def features(self):
        return self.header.get("features", "").split()

    def to_json(self):
        return {"path": self.path, "area": self.area,
                "header": self.header, "steps": [s.to_json() for s in self.steps]}

    def render(self):
        out = []
        for key in vocabulary.HEADER_KEYS:
            if key not in self.header:
                continue
            values = self.header[key]
            for v in (values if isinstance(values, list) else [values]):
                out.append("%s: %s" % (key, v))
        out.append("")
        out.extend(s.render() for s in self.steps)
        if self.traces:
            out.append("----")
            for t in self.traces:
                out.extend(t.render_lines())
                out.append("")
            if out[-1] == "":
                out.pop()
        return "\n".join(out) + "\n"


def version_key(v):
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def render_value(v):
    if v is None:
        return "none"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Str):
        return json.dumps(str(v))
    if isinstance(v, (int, float)):
        return repr(v)
    return str(v)


def _value_json(v):
    if isinstance(v, Str):
        return {"str": str(v)}
    return v


def _typed(token):
    """Turns a token into a value: none/true/false, numbers, Str for quoted text, else a name."""
    if token.quoted:
        return Str(token.text)
    t = token.text
    if t == "none":
        return None
    if t in ("true", "false"):
        return t == "true"
    if re.match(r"^-?\d+$", t):
        return int(t)
    if re.match(r"^-?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE]-?\d+)$", t):
        return float(t)
    return t


def parse_step(path, lineno, text):
    """Parses one step line (already stripped of indentation)."""
    try:
        toks = tok.tokenize(text)
    except tok.TokenError as e:
        raise ScenarioError(path, lineno, "%s at column %d" % (e, e.column))
    if not toks:
        return None
    if toks[0].quoted or toks[0].key is not None:
        raise ScenarioError(path, lineno, "expected a step name, got %r" % toks[0].text)
    op = toks[0].text
    if op == "on":
        return _parse_on(path, lineno, text)
    if not vocabulary.is_known(op):
        raise ScenarioError(path, lineno, "unknown step %r (expected one of: %s, or NAME.method)"
                            % (op, ", ".join(sorted(vocabulary.STEPS))))
    step = Step(lineno, op)
    for t in toks[1:]:
        if t.key is not None:
            if t.key in step.kw:
                raise ScenarioError(path, lineno, "duplicate option %s=" % t.key)
            step.kw[t.key] = _typed(t)
        else:
            if step.kw:
                raise ScenarioError(path, lineno, "positional argument %r after KEY=VALUE options" % t.text)
            step.args.append(_typed(t))
    for a in step.args:
        if isinstance(a, str) and not isinstance(a, Str) and tok.parse_count(a):
            raise ScenarioError(path, lineno, "name %r looks like a trace count; choose another name" % a)
    return step


def _parse_on(path, lineno, text):
    m = re.match(r"^on\s+(\S+?):(?:\s+(.*))?$", text)
    if not m or not _NAME.match(m.group(1)):
        raise ScenarioError(path, lineno, "expected 'on TARGET: STEP; STEP ...'")
    body = []
    rest = m.group(2) or ""
    while rest is not None and rest.strip():
        try:
            part_tokens, remainder = tok.tokenize(rest, stop_at=";")
        except tok.TokenError as e:
            raise ScenarioError(path, lineno, str(e))
        consumed = rest if remainder is None else rest[:len(rest) - len(remainder) - 1]
        step = parse_step(path, lineno, consumed.strip())
        if step is not None:
            body.append(step)
        rest = remainder
    if not body:
        raise ScenarioError(path, lineno, "'on %s:' needs at least one step after the colon" % m.group(1))
    return Step(lineno, "on", target=m.group(1), body=body)


def parse(text, path="<scenario>"):
    sc = Scenario(path)
    lines = text.split("\n")
    in_header = True
    i = 0
    prologue_end = len(lines)
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        stripped = raw.strip()
        i += 1
        if SEPARATOR.match(stripped):
            prologue_end = i - 1
            break
        if not stripped or stripped.startswith("#"):
            continue
        m = _HEADER.match(stripped)
        if m and in_header and not stripped.startswith("on "):
            _header_line(sc, path, lineno, m.group(1), (m.group(2) or "").strip())
            continue
        if m and m.group(1) in vocabulary.HEADER_KEYS:
            raise ScenarioError(path, lineno, "header line %r after the first step" % m.group(1))
        in_header = False
        step = parse_step(path, lineno, stripped)
        if step is not None:
            sc.steps.append(step)
    sc.prologue = "\n".join(lines[:prologue_end]).rstrip("\n") + "\n"
    if "description" not in sc.header:
        raise ScenarioError(path, 1, "missing required header 'description: ...'")
    if not sc.steps:
        raise ScenarioError(path, len(lines), "no steps before the separator")
    _parse_traces(sc, path, lines, i)
    return sc


def _header_line(sc, path, lineno, key, value):
    if key not in vocabulary.HEADER_KEYS:
        raise ScenarioError(path, lineno, "unknown header key %r (expected one of: %s)"
                            % (key, ", ".join(vocabulary.HEADER_KEYS)))
    if not value:
        raise ScenarioError(path, lineno, "header %r needs a value" % key)
    if key == "nondeterministic":
        from harness.trace import parse_rule, RuleError
        try:
            parse_rule(value)
        except RuleError as e:
            raise ScenarioError(path, lineno, str(e))
        sc.header.setdefault(key, []).append(value)
        return
    if key in sc.header:
        raise ScenarioError(path, lineno, "duplicate header %r" % key)
    if key == "requires":
        for term in value.split():
            if not _REQUIRE.match(term):
                raise ScenarioError(path, lineno, "bad requirement %r (expected py>=3.12, py<3.12, ...)" % term)
    if key == "features":
        known = vocabulary.features()
        for tag in value.split():
            if tag not in known:
                raise ScenarioError(path, lineno, "unknown feature %r (expected one of: %s)" % (tag, ", ".join(known)))
    if key == "timeout":
        try:
            float(value)
        except ValueError:
            raise ScenarioError(path, lineno, "timeout must be a number of seconds, got %r" % value)
    sc.header[key] = value


def _parse_traces(sc, path, lines, start):
    current = None
    group = None
    for i in range(start, len(lines)):
        lineno = i + 1
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("trace:"):
            if group is not None:
                raise ScenarioError(path, group[0], "unordered group is not closed with '}'")
            versions = stripped[len("trace:"):].split()
            if not versions:
                raise ScenarioError(path, lineno, "expected 'trace: VERSION ...' with at least one CPython version")
            for v in versions:
                if not _VERSION.match(v):
                    raise ScenarioError(path, lineno, "bad CPython version %r (expected X.Y.Z)" % v)
                if sc.trace_for(v) is not None:
                    raise ScenarioError(path, lineno, "version %s labels two traces" % v)
            current = ExpectedTrace(versions)
            sc.traces.append(current)
            continue
        if current is None:
            raise ScenarioError(path, lineno, "expected 'trace: VERSION ...' after the separator, got %r" % stripped)
        if stripped == "unordered {":
            if group is not None:
                raise ScenarioError(path, lineno, "unordered groups do not nest")
            group = (lineno, [])
            continue
        if stripped == "}":
            if group is None:
                raise ScenarioError(path, lineno, "'}' without 'unordered {'")
            if not group[1]:
                raise ScenarioError(path, lineno, "empty unordered group")
            current.add_group(group[1])
            group = None
            continue
        try:
            line = parse_trace_line(stripped)
        except TraceSyntaxError as e:
            raise ScenarioError(path, lineno, str(e))
        if group is not None:
            group[1].append(line)
        else:
            current.add_line(line)
    if group is not None:
        raise ScenarioError(path, group[0], "unordered group is not closed with '}'")


def load(path):
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), path)
