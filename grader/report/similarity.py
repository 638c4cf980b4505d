"""Answer code unusually similar between two students: "worth a look", never a verdict.

The method is MOSS's idea (Schleimer, Wilkerson, Aiken, "Winnowing", SIGMOD 2003), done for
a class's answer cells rather than for whole files:

1. `tokens`: a lexer for Python's tokens (one regular expression: stdlib `tokenize` is pure
   Python and took 11 s of the 20 s a class of 1,000 cost) reads each answer cell; comments,
   blank lines and layout are dropped, every string is "S", and every name the student chose
   (variables, parameters, helpers) is "V", so renaming `delta` to `d` or re-spacing does not
   hide a copy. Keywords, builtins and attribute names (`np.outer`, `.T`) are kept: they are
   what the code does. Line breaks inside brackets are layout too.
2. `grams`: every run of K tokens is one k-gram (the cells are small, so all of them are kept;
   winnowing's sampling is not needed), a string of K characters (`Vocabulary`).
3. Per function, the k-grams of the release's own stub are removed (the template every
   student starts from), and so are the k-grams that more than max(COMMON_MIN, COMMON_SHARE
   of the class), at most COMMON_MAX, students share: `np.maximum(0, z)` written by half the class is what the
   class shares anyway, not a sign of copying.
4. An inverted index from each remaining (uncommon) k-gram to the students who wrote it gives
   the pairs that share any at all, with no all-pairs loop: the cost grows with the class
   times the rare k-grams, not with the square of the class.
5. A pair's score for a function is the Jaccard index of the two students' uncommon k-grams.
   Its evidence there is the shared uncommon k-grams, each weighted by how rare it is: 1 for
   a k-gram only the two wrote, 1/(w - 1) for one w students wrote (a mistake 30 students of
   1,000 make in the same words is not evidence that two of them copied). The pair is listed
   when some function reaches MIN_SCORE with at least MIN_EVIDENCE, or all its functions
   together do (a copy of many short functions); its overall score is the Jaccard index over
   all the functions together.

Code with a syntax error is read as far as it goes (the lexer never fails). Nothing here
runs student code.
"""
from __future__ import annotations

import builtins
import keyword
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

K = 8                   # tokens per k-gram: about one short statement
COMMON_SHARE = 0.05     # a k-gram more than this share of the class wrote is common ...
COMMON_MIN = 3          # ... and so is one more than this many students wrote, in a small class,
COMMON_MAX = 10         # ... and one more than this many wrote, in a large one (so a k-gram makes
                        #     at most 45 pairs: 50 of 1,000 pasting one table cost 23 s a function)
MIN_EVIDENCE = 25.0     # rarity-weighted uncommon k-grams two students must share in one function ...
MIN_SCORE = 0.5         # ... and the Jaccard index they must reach there, to be listed
MAX_PAIRS = 200         # pairs returned at most (strongest first)

_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
_LEXER = re.compile(r"""
    (?:[^\S\n]|\\\n|\#[^\n]*(?=\n|\Z))*      # layout and comments, skipped before every token
                                             # (one character a step: no way to backtrack into)
    (?:
      (?P<string>(?:[rRbBuUfF]{1,2})?(?:\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'\'\'[\s\S]*?(?:'\'\'|\Z)
                                     |"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))
    | (?P<name>[^\W\d]\w*)
    | (?P<newline>\n)
    | (?P<end>\Z)
    | (?P<op>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?
         |\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%@&|^=!<>]=|[-+*/%@&|^~<>=.,:;()\[\]{}]|.)
    )
""", re.VERBOSE)
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


@dataclass
class FunctionMatch:
    function: str
    score: float                        # Jaccard index of the uncommon k-grams
    shared: int                         # uncommon k-grams both wrote
    evidence: float                     # the same, each weighted by its rarity in the class
    lines_a: list[tuple[str, bool]]     # (line of a's cell, part of the shared uncommon code)
    lines_b: list[tuple[str, bool]]


@dataclass
class Pair:
    a: str
    b: str
    score: float                        # Jaccard index over every function
    functions: list[FunctionMatch]      # the functions they share uncommon code in, strongest first


def tokens(code: str) -> list[tuple[str, int]]:
    """The canonical tokens of `code` with their 1-based lines: (text, line)."""
    out: list[tuple[str, int]] = []
    line, depth, previous = 1, 0, ""
    kept, opening, closing = _KEPT_NAMES, _OPEN, _CLOSE
    for m in _LEXER.finditer(code):
        line += m.group().count("\n", 0, m.start(m.lastindex) - m.start()) if m.lastindex else 0
        kind, text = m.lastgroup, m.group(m.lastindex or 0)
        if kind == "name":
            out.append((text if previous == "." or text in kept else "V", line))
        elif kind == "op":
            if text in opening:
                depth += 1
            elif text in closing and depth:
                depth -= 1
            out.append((text, line))
        elif kind == "string":
            out.append(("S", line))
            line += text.count("\n")
        elif kind == "newline":
            if depth == 0 and out and out[-1][0] != "NEWLINE":
                out.append(("NEWLINE", line))
            line += 1
        previous = text
    return out


def canonical(code: str) -> list[str]:
    """The texts of tokens(code), without their lines: the fast path every cell of the class
    takes (re.findall and one pass; tokens(), for the cells shown, is the same with lines)."""
    out: list[str] = []
    depth, previous = 0, ""
    kept, opening, closing = _KEPT_NAMES, _OPEN, _CLOSE
    for string, name, newline, _end, op in _LEXER.findall(code):
        if name:
            out.append(name if previous == "." or name in kept else "V")
            previous = name
        elif op:
            if op in opening:
                depth += 1
            elif op in closing and depth:
                depth -= 1
            out.append(op)
            previous = op
        elif string:
            out.append("S")
            previous = string
        elif newline:
            if depth == 0 and out and out[-1] != "NEWLINE":
                out.append("NEWLINE")
            previous = newline
    return out


class Vocabulary:
    """Token texts as single characters, so that a k-gram is a K-character string: slicing
    and hashing a short string is several times cheaper than building a tuple of K strings.
    (Past a million distinct tokens, characters are reused: two rare tokens may then look
    alike, which only ever adds a shared k-gram.)"""

    _FIRST, _SPAN = 0xE000, 0x100000 - 0xE000     # above the surrogates, within Unicode

    def __init__(self):
        self._chars: dict[str, str] = {}

    def encode(self, texts: list[str]) -> str:
        chars = self._chars
        out = []
        for t in texts:
            c = chars.get(t)
            if c is None:
                c = chars[t] = chr(self._FIRST + len(chars) % self._SPAN)
            out.append(c)
        return "".join(out)


def grams(encoded: str) -> set[str]:
    """Every run of K tokens of an encoded token string (Vocabulary.encode)."""
    return {encoded[i:i + K] for i in range(len(encoded) - K + 1)}


def common_limit(students: int) -> int:
    """How many students may write a k-gram before it counts as what the class shares anyway."""
    return min(COMMON_MAX, max(COMMON_MIN, int(COMMON_SHARE * students)))


def _marked_lines(code: str, shared: set, vocabulary: Vocabulary) -> list[tuple[str, bool]]:
    toks = tokens(code)
    encoded = vocabulary.encode([t for t, _ in toks])
    marked: set[int] = set()
    for i in range(len(toks) - K + 1):
        if encoded[i:i + K] in shared:
            marked.update(range(toks[i][1], toks[i + K - 1][1] + 1))
    return [(line, n in marked) for n, line in enumerate(code.splitlines(), start=1)]


def similar_pairs(template: Mapping[str, str], codes: Mapping[str, Mapping[str, str]]) -> list[Pair]:
    """The pairs of students whose answer code is unusually similar, strongest first.

    `template`: function -> the release's answer cell; `codes`: student -> function -> their
    answer cell. At most MAX_PAIRS pairs."""
    functions = sorted({f for mine in codes.values() for f in mine})
    limit = common_limit(len(codes))
    seen: dict[str, set] = {}           # the same cell (a stub, the key) is read once
    vocabulary = Vocabulary()

    def grams_of(code: str) -> set:
        if code not in seen:
            seen[code] = grams(vocabulary.encode(canonical(code)))
        return seen[code]

    uncommon: dict[str, dict[str, set]] = {}
    shared: dict[tuple[str, str], dict[str, tuple[int, float]]] = defaultdict(dict)
    for function in functions:
        stub = grams_of(template.get(function, ""))
        mine = {s: grams_of(c[function]) - stub for s, c in codes.items() if function in c}
        writers = Counter(g for gs in mine.values() for g in gs)
        mine = {s: {g for g in gs if writers[g] <= limit} for s, gs in mine.items()}
        uncommon[function] = mine
        index: dict[str, list[str]] = defaultdict(list)
        for student in sorted(mine):
            for g in mine[student]:
                index[g].append(student)
        count: Counter = Counter()
        weight: Counter = Counter()
        for who in index.values():
            if len(who) > 1:
                pairs = list(combinations(who, 2))      # `who` is sorted: (a, b) with a < b
                count.update(pairs)
                for pair in pairs:
                    weight[pair] += 1 / (len(who) - 1)
        for pair, n in count.items():
            shared[pair][function] = (n, weight[pair])

    out: list[Pair] = []
    for (a, b), per_function in shared.items():
        found = [(f, n, w, n / (len(uncommon[f][a]) + len(uncommon[f][b]) - n))
                 for f, (n, w) in per_function.items()]
        inter = sum(n for _, n, _, _ in found)
        union = sum(len(uncommon[f].get(a, ())) + len(uncommon[f].get(b, ())) for f in functions) - inter
        in_one = any(w >= MIN_EVIDENCE and score >= MIN_SCORE for _, _, w, score in found)
        # ... or across many short functions, none enough alone
        in_all = sum(w for _, _, w, _ in found) >= MIN_EVIDENCE and inter / union >= MIN_SCORE
        if not (in_one or in_all):
            continue
        matches = []
        for f, n, w, score in sorted(found, key=lambda x: (-x[3], x[0])):
            both = uncommon[f][a] & uncommon[f][b]
            matches.append(FunctionMatch(f, score, n, w, _marked_lines(codes[a][f], both, vocabulary),
                                         _marked_lines(codes[b][f], both, vocabulary)))
        out.append(Pair(a, b, inter / union, matches))
    out.sort(key=lambda p: (-p.score, p.a, p.b))
    return out[:MAX_PAIRS]
