"""Tokenizer shared by scenario steps and trace lines.

A line is a sequence of whitespace-separated tokens. A token is a bare word, a
JSON string ("..." with JSON escapes), or KEY=VALUE where VALUE is either. A `#`
that starts a token begins a comment running to the end of the line.
"""
import json
import re

_BARE_SAFE = re.compile(r'^[^\s"#;{}]+$')
_COUNT = re.compile(r'^x(\d+)(?:\.\.(\d+))?$')


class TokenError(ValueError):
    """A line could not be split into tokens; `column` is 1-based."""

    def __init__(self, message, column):
        ValueError.__init__(self, message)
        self.column = column


class Token(object):
    """One token: its text, whether it was quoted, and an optional KEY= prefix."""
    __slots__ = ("text", "quoted", "key")

    def __init__(self, text, quoted=False, key=None):
        self.text = text
        self.quoted = quoted
        self.key = key

    def __repr__(self):
        return "Token(%r, quoted=%r, key=%r)" % (self.text, self.quoted, self.key)


def _read_string(line, i):
    """Reads a JSON string starting at line[i] == '"'; returns (text, next index)."""
    j = i + 1
    while j < len(line):
        c = line[j]
        if c == "\\":
            j += 2
            continue
        if c == '"':
            try:
                return json.loads(line[i:j + 1]), j + 1
            except ValueError as e:
                raise TokenError("bad string escape (%s)" % e, i + 1)
        j += 1
    raise TokenError("unterminated string", i + 1)


def tokenize(line, stop_at=None):
    """Splits `line` into Tokens. With stop_at=';', returns at the first bare ';'
    as (tokens, rest) instead of a plain token list."""
    tokens = []
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            break
        if stop_at is not None and c == stop_at:
            return tokens, line[i + 1:]
        if c == '"':
            text, i = _read_string(line, i)
            tokens.append(Token(text, quoted=True))
            continue
        j = i
        while j < n and not line[j].isspace() and line[j] != '"' and not (stop_at and line[j] == stop_at):
            if line[j] == "=" and j + 1 < n and line[j + 1] == '"' and j > i:
                key = line[i:j]
                text, k = _read_string(line, j + 1)
                tokens.append(Token(text, quoted=True, key=key))
                i = k
                break
            j += 1
        else:
            word = line[i:j]
            if "=" in word and not word.startswith("="):
                key, _, value = word.partition("=")
                tokens.append(Token(value, key=key))
            else:
                tokens.append(Token(word))
            i = j
            continue
    if stop_at is not None:
        return tokens, None
    return tokens


def render_word(text):
    """Renders one string token: bare when that is unambiguous, else JSON-quoted."""
    if _BARE_SAFE.fullmatch(text) and not _COUNT.fullmatch(text) and "=" not in text:
        return text
    return json.dumps(text)


def parse_count(text):
    """`x3` -> (3, 3); `x1..1000` -> (1, 1000); anything else -> None."""
    m = _COUNT.fullmatch(text)
    if not m:
        return None
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    return lo, hi


def render_count(lo, hi):
    return "x%d" % lo if lo == hi else "x%d..%d" % (lo, hi)
