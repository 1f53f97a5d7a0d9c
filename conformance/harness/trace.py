"""Traces: rendering driver events, declared nondeterminism, and the comparator.

An actual trace is a list of events, each a list of string tokens
(`["callback", "a"]`). An expected trace is a list of items: a line with a count
range (`callback h1 x1..1000`) or an unordered group of lines. Nondeterminism is
declared in the scenario header by rules that `scripts/record` applies when it
writes a recording, and that the comparator honours:

    ignore GLOB                     drop matching events before comparing
    count GLOB LO..HI               a run of one repeated event may occur LO..HI times
    unordered GLOB [| GLOB ...]     consecutive matching events form an unordered group

GLOB matches a whole rendered event line; `*` matches any text.
"""
import difflib
import re

from harness import tokens as tok


class TraceSyntaxError(ValueError):
    pass


class RuleError(ValueError):
    pass


class TraceLine(object):
    __slots__ = ("tokens", "lo", "hi")

    def __init__(self, tokens, lo=1, hi=1):
        self.tokens = list(tokens)
        self.lo = lo
        self.hi = hi

    def text(self):
        return render_tokens(self.tokens)

    def render(self):
        s = self.text()
        if (self.lo, self.hi) != (1, 1):
            s += " " + tok.render_count(self.lo, self.hi)
        return s

    def __eq__(self, other):
        return isinstance(other, TraceLine) and (self.tokens, self.lo, self.hi) == (other.tokens, other.lo, other.hi)

    def __repr__(self):
        return "TraceLine(%r)" % self.render()


class Group(object):
    __slots__ = ("lines",)

    def __init__(self, lines):
        self.lines = list(lines)

    def render_lines(self):
        return ["unordered {"] + ["  " + l.render() for l in self.lines] + ["}"]

    def __eq__(self, other):
        return isinstance(other, Group) and self.lines == other.lines


class ExpectedTrace(object):
    def __init__(self, versions, items=None):
        self.versions = list(versions)
        self.items = items or []

    def add_line(self, line):
        self.items.append(line)

    def add_group(self, lines):
        self.items.append(Group(lines))

    def body_lines(self):
        out = []
        for item in self.items:
            if isinstance(item, Group):
                out.extend(item.render_lines())
            else:
                out.append(item.render())
        return out

    def render_lines(self):
        return ["trace: " + " ".join(self.versions)] + self.body_lines()

    def __eq__(self, other):
        return isinstance(other, ExpectedTrace) and self.versions == other.versions and self.items == other.items


# ---- rendering events ---------------------------------------------------------------

def event_tokens(event):
    """A driver's event object -> list of token strings."""
    out = [str(event.get("event", "?"))]
    for a in event.get("args", []):
        if a is None:
            out.append("None")
        elif a is True or a is False:
            out.append(repr(a))
        elif isinstance(a, (int, float)):
            out.append(repr(a))
        else:
            out.append(str(a))
    return out


def render_tokens(tokens):
    return " ".join(tok.render_word(t) for t in tokens)


def parse_trace_line(text):
    try:
        toks = tok.tokenize(text)
    except tok.TokenError as e:
        raise TraceSyntaxError("%s at column %d" % (e, e.column))
    if not toks:
        raise TraceSyntaxError("empty trace line")
    lo = hi = 1
    last = toks[-1]
    if not last.quoted and last.key is None and tok.parse_count(last.text):
        lo, hi = tok.parse_count(last.text)
        toks = toks[:-1]
        if hi < lo:
            raise TraceSyntaxError("count range %s has max below min" % last.text)
        if not toks:
            raise TraceSyntaxError("a count needs an event before it")
    words = [(t.key + "=" + t.text) if t.key is not None else t.text for t in toks]
    return TraceLine(words, lo, hi)


# ---- nondeterminism rules -----------------------------------------------------------

def _glob(pattern):
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.S)


class Rule(object):
    def __init__(self, kind, globs, lo=1, hi=1):
        self.kind = kind
        self.globs = [_glob(g) for g in globs]
        self.lo = lo
        self.hi = hi

    def matches(self, tokens):
        text = render_tokens(tokens)
        return any(g.match(text) for g in self.globs)


def parse_rule(text):
    words = text.split()
    if not words:
        raise RuleError("empty nondeterministic rule")
    kind = words[0]
    rest = text[len(kind):].strip()
    if kind == "ignore":
        if not rest:
            raise RuleError("expected 'ignore GLOB'")
        return Rule(kind, [rest])
    if kind == "count":
        m = re.match(r"^(.*\S)\s+(\d+)\.\.(\d+)$", rest)
        if not m:
            raise RuleError("expected 'count GLOB MIN..MAX', got %r" % text)
        lo, hi = int(m.group(2)), int(m.group(3))
        if lo < 1 or hi < lo:
            raise RuleError("count range must satisfy 1 <= MIN <= MAX, got %d..%d" % (lo, hi))
        return Rule(kind, [m.group(1)], lo, hi)
    if kind == "unordered":
        globs = [g.strip() for g in rest.split("|") if g.strip()]
        if not globs:
            raise RuleError("expected 'unordered GLOB [| GLOB ...]'")
        return Rule(kind, globs)
    raise RuleError("unknown nondeterministic rule %r (expected ignore, count or unordered)" % kind)


def apply_ignores(events, rules):
    ignores = [r for r in rules if r.kind == "ignore"]
    return [e for e in events if not any(r.matches(e) for r in ignores)]


def generalize(events, rule_texts, versions):
    """Turns one concrete trace into the expected form `scripts/record` writes."""
    rules = [parse_rule(t) for t in rule_texts]
    events = apply_ignores(events, rules)
    counts = [r for r in rules if r.kind == "count"]
    groups = [r for r in rules if r.kind == "unordered"]
    trace = ExpectedTrace(versions)
    i = 0
    while i < len(events):
        g = next((r for r in groups if r.matches(events[i])), None)
        if g is not None:
            j = i
            while j < len(events) and g.matches(events[j]):
                j += 1
            trace.add_group(_collapse(sorted(events[i:j], key=render_tokens), counts))
            i = j
            continue
        j = i
        while j < len(events) and events[j] == events[i]:
            j += 1
        trace.add_line(_counted(events[i], j - i, counts))
        i = j
    return trace


def _counted(tokens, n, counts):
    rule = next((r for r in counts if r.matches(tokens)), None)
    if rule is not None:
        return TraceLine(tokens, rule.lo, rule.hi)
    return TraceLine(tokens, n, n)


def _runs(events):
    """Consecutive equal events as [event, count] pairs."""
    out = []
    for e in events:
        if out and out[-1][0] == e:
            out[-1][1] += 1
        else:
            out.append([e, 1])
    return out


def _collapse(events, counts):
    return [_counted(e, n, counts) for e, n in _runs(events)]


# ---- comparator ---------------------------------------------------------------------

class Comparison(object):
    def __init__(self, ok, diff="", first=None):
        self.ok = ok
        self.diff = diff
        self.first = first   # 1-based index of the first differing expected line


def compare(expected, events, rule_texts=(), expected_label="expected", actual_label="actual"):
    """Matches concrete `events` against `expected`; returns a Comparison with a minimal diff."""
    rules = [parse_rule(t) for t in rule_texts]
    events = apply_ignores(events, rules)
    i = 0
    matched = []           # rendered expected lines that matched, in order
    for item in expected.items:
        if isinstance(item, Group):
            n = _match_group(item, events, i)
            if n is None:
                return _failure(expected, matched, events, i, expected_label, actual_label)
            matched.extend(item.render_lines())
            i += n
        else:
            n = 0
            while i + n < len(events) and events[i + n] == item.tokens and n < item.hi:
                n += 1
            if n < item.lo or (i + n < len(events) and events[i + n] == item.tokens):
                return _failure(expected, matched, events, i, expected_label, actual_label)
            matched.append(item.render())
            i += n
    if i != len(events):
        return _failure(expected, matched, events, i, expected_label, actual_label)
    return Comparison(True)


def _match_group(group, events, i):
    """Number of events the group consumes at i, or None when they do not fit."""
    wanted = [l.tokens for l in group.lines]
    j = i
    while j < len(events) and events[j] in wanted:
        j += 1
    for line in group.lines:
        n = sum(1 for e in events[i:j] if e == line.tokens)
        if not line.lo <= n <= line.hi:
            return None
    return j - i


def _collapse_actual(events):
    return [TraceLine(e, n, n).render() for e, n in _runs(events)]


def _failure(expected, matched, events, i, expected_label, actual_label):
    exp_lines = expected.body_lines()
    actual_view = matched + _collapse_actual(events[i:])
    diff = difflib.unified_diff(exp_lines, actual_view, expected_label, actual_label, n=2, lineterm="")
    return Comparison(False, "\n".join(diff), first=len(matched) + 1)
