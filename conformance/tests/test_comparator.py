"""The comparator's patterns: exact lines, count ranges, unordered groups, digests, ignore rules."""
import unittest

from harness import trace as tr
from harness.scenario import parse


def expected(body, rules=""):
    sc = parse("description: d\n%scall_soon a\n----\ntrace: 3.11.7\n%s" % (rules, body), "t/loop/x.scn")
    return sc.traces[0], sc.rules()


def events(*lines):
    return [tr.parse_trace_line(l).tokens for l in lines]


class ExactLines(unittest.TestCase):
    def test_equal_traces_match(self):
        t, rules = expected("callback a\ncallback b\n")
        self.assertTrue(tr.compare(t, events("callback a", "callback b"), rules).ok)

    def test_order_matters(self):
        t, rules = expected("callback a\ncallback b\n")
        c = tr.compare(t, events("callback b", "callback a"), rules)
        self.assertFalse(c.ok)
        self.assertEqual(c.first, 1)

    def test_extra_and_missing_events_diverge(self):
        t, rules = expected("callback a\n")
        self.assertFalse(tr.compare(t, events("callback a", "callback b"), rules).ok)
        self.assertFalse(tr.compare(t, events(), rules).ok)

    def test_diff_shows_only_the_difference(self):
        t, rules = expected("callback a\ncallback b\ncallback c\n")
        c = tr.compare(t, events("callback a", "callback x", "callback c"), rules, "exp", "act")
        self.assertIn("-callback b", c.diff)
        self.assertIn("+callback x", c.diff)
        self.assertNotIn("-callback a", c.diff)


class CountRanges(unittest.TestCase):
    def test_range_accepts_its_bounds(self):
        t, rules = expected("callback h1 x2..4\ncallback z\n")
        for n in (2, 3, 4):
            self.assertTrue(tr.compare(t, events(*(["callback h1"] * n + ["callback z"])), rules).ok, n)

    def test_range_rejects_outside(self):
        t, rules = expected("callback h1 x2..4\n")
        for n in (0, 1, 5):
            self.assertFalse(tr.compare(t, events(*(["callback h1"] * n)), rules).ok, n)

    def test_exact_count(self):
        t, rules = expected("callback h1 x3\n")
        self.assertTrue(tr.compare(t, events(*["callback h1"] * 3), rules).ok)
        self.assertFalse(tr.compare(t, events(*["callback h1"] * 4), rules).ok)

    def test_diff_collapses_repeats(self):
        t, rules = expected("callback h1 x3\n")
        self.assertIn("+callback h1 x4", tr.compare(t, events(*["callback h1"] * 4), rules).diff)


class UnorderedGroups(unittest.TestCase):
    BODY = "p.start\nunordered {\n  p.lost 1\n  p.lost 2\n  p.exited\n}\np.end\n"

    def test_any_order_matches(self):
        t, rules = expected(self.BODY)
        for order in (("p.lost 1", "p.lost 2", "p.exited"), ("p.exited", "p.lost 2", "p.lost 1")):
            self.assertTrue(tr.compare(t, events("p.start", *(order + ("p.end",))), rules).ok, order)

    def test_missing_member_diverges(self):
        t, rules = expected(self.BODY)
        self.assertFalse(tr.compare(t, events("p.start", "p.lost 1", "p.exited", "p.end"), rules).ok)

    def test_duplicate_member_diverges(self):
        t, rules = expected(self.BODY)
        self.assertFalse(tr.compare(t, events("p.start", "p.lost 1", "p.lost 1", "p.lost 2", "p.exited", "p.end"), rules).ok)

    def test_stranger_inside_the_group_diverges(self):
        t, rules = expected(self.BODY)
        self.assertFalse(tr.compare(t, events("p.start", "p.lost 1", "callback x", "p.lost 2", "p.exited", "p.end"), rules).ok)


class Digests(unittest.TestCase):
    def test_same_count_other_digest_diverges(self):
        t, rules = expected("t.data_received 70000 sha256:fc31af9ff1a7eab7\n")
        self.assertTrue(tr.compare(t, events("t.data_received 70000 sha256:fc31af9ff1a7eab7"), rules).ok)
        self.assertFalse(tr.compare(t, events("t.data_received 70000 sha256:0000000000000000"), rules).ok)
        self.assertFalse(tr.compare(t, events("t.data_received 69999 sha256:fc31af9ff1a7eab7"), rules).ok)


class Rules(unittest.TestCase):
    def test_ignore_drops_matching_events(self):
        t, rules = expected("callback a\n", "nondeterministic: ignore log WARNING *\n")
        self.assertTrue(tr.compare(t, events("log WARNING \"noise\"", "callback a"), rules).ok)

    def test_generalize_applies_count_and_unordered(self):
        rules = ["count callback h1 1..1000", "unordered p.*"]
        concrete = events("callback h1", "callback h1", "p.b", "p.a", "callback z", "callback z")
        t = tr.generalize(concrete, rules, ["3.11.7"])
        self.assertEqual(t.body_lines(), ["callback h1 x1..1000", "unordered {", "  p.a", "  p.b", "}", "callback z x2"])
        self.assertTrue(tr.compare(t, concrete, rules).ok)
        self.assertTrue(tr.compare(t, events("callback h1", "p.a", "p.b", "callback z", "callback z"), rules).ok)

    def test_bad_rules(self):
        with self.assertRaises(tr.RuleError):
            tr.parse_rule("count callback h1 5..2")
        with self.assertRaises(tr.RuleError):
            tr.parse_rule("count callback h1")


class Tokens(unittest.TestCase):
    def test_awkward_strings_survive_render_and_parse(self):
        for text in ("x5", "a b", "70004\n", "x5\n", 'say "hi"', "line\nbreak", "", "#hash", "k=v", "{", "semi;colon"):
            line = tr.TraceLine(["returned", "t.get", text])
            self.assertEqual(tr.parse_trace_line(line.render()).tokens, line.tokens, text)

    def test_event_rendering(self):
        ev = {"event": "raised", "args": ["call_later", "TypeError", "delay must not be None"]}
        self.assertEqual(tr.render_tokens(tr.event_tokens(ev)), 'raised call_later TypeError "delay must not be None"')
        self.assertEqual(tr.event_tokens({"event": "returned", "args": ["x", None, True, 3]}),
                         ["returned", "x", "None", "True", "3"])


if __name__ == "__main__":
    unittest.main()
