"""Answer code unusually similar between two students: "worth a look", never a verdict.

The method is MOSS's idea (Schleimer, Wilkerson, Aiken, "Winnowing", SIGMOD 2003), done for
a class's answer cells rather than for whole files:

1. `tokens`: Python's own tokenizer (stdlib `tokenize`) reads each answer cell; comments,
   blank lines and layout are dropped, every string is "S", and every name the student chose
   (variables, parameters, helpers) is "V", so renaming `delta` to `d` or re-spacing does not
   hide a copy. Keywords, builtins and attribute names (`np.outer`, `.T`) are kept: they are
   what the code does.
2. `grams`: every run of K tokens is one k-gram (the cells are small, so all of them are kept;
   winnowing's sampling is not needed).
3. Per function, the k-grams of the release's own stub are removed (the template every
   student starts from), and so are the k-grams that more than max(COMMON_MIN, COMMON_SHARE
   of the class) students share: `np.maximum(0, z)` written by half the class is what the
   class shares anyway, not a sign of copying.
4. An inverted index from each remaining (uncommon) k-gram to the students who wrote it gives
   the pairs that share any at all, with no all-pairs loop: the cost grows with the class
   times the rare k-grams, not with the square of the class.
5. A pair's score for a function is the Jaccard index of the two students' uncommon k-grams;
   the pair is listed when some function reaches MIN_SCORE with at least MIN_SHARED shared
   uncommon k-grams. Its overall score is the Jaccard index over all the functions together.

Code that failed to tokenize (a syntax error) is read up to the error. Nothing here runs
student code.
"""
from __future__ import annotations

import builtins
import io
import keyword
import token
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

K = 8                   # tokens per k-gram: about one short statement
COMMON_SHARE = 0.05     # a k-gram more than this share of the class wrote is common ...
COMMON_MIN = 2          # ... and so is one more than this many students wrote, in a small class
MIN_SHARED = 12         # uncommon k-grams two students must share in one function ...
MIN_SCORE = 0.5         # ... and the Jaccard index they must reach there, to be listed
MAX_PAIRS = 200         # pairs returned at most (strongest first)

_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER, tokenize.TYPE_COMMENT}


@dataclass(frozen=True)
class Token:
    text: str       # canonical: "V" for a chosen name, "S" for a string
    line: int       # 1-based line in the cell


@dataclass
class FunctionMatch:
    function: str
    score: float                        # Jaccard index of the uncommon k-grams
    shared: int                         # uncommon k-grams both wrote
    lines_a: list[tuple[str, bool]]     # (line of a's cell, part of the shared uncommon code)
    lines_b: list[tuple[str, bool]]


@dataclass
class Pair:
    a: str
    b: str
    score: float                        # Jaccard index over every function
    functions: list[FunctionMatch]      # the functions they share uncommon code in, strongest first


def tokens(code: str) -> list[Token]:
    """The canonical tokens of `code` (read up to a tokenizer error, if any)."""
    out: list[Token] = []
    previous = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _SKIPPED:
                continue
            text = tok.string
            if tok.type == token.NAME and previous != "." and text not in _KEPT_NAMES:
                text = "V"
            elif tok.type == token.STRING or tok.type in _fstring_types():
                text = "S"
            elif tok.type in (token.NEWLINE, token.INDENT, token.DEDENT):
                text = token.tok_name[tok.type]
            previous = tok.string
            out.append(Token(text, tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _fstring_types() -> tuple[int, ...]:
    return tuple(getattr(token, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(token, n))


def grams(toks: list[Token]) -> dict[tuple[str, ...], set[int]]:
    """k-gram -> the lines it spans, for every run of K tokens."""
    out: dict[tuple[str, ...], set[int]] = defaultdict(set)
    for i in range(len(toks) - K + 1):
        window = toks[i:i + K]
        out[tuple(t.text for t in window)].update(range(window[0].line, window[-1].line + 1))
    return out


def common_limit(students: int) -> int:
    """How many students may write a k-gram before it counts as what the class shares anyway."""
    return max(COMMON_MIN, int(COMMON_SHARE * students))


def _lines(code: str, marked: set[int]) -> list[tuple[str, bool]]:
    return [(line, n in marked) for n, line in enumerate(code.splitlines(), start=1)]


def similar_pairs(template: Mapping[str, str], codes: Mapping[str, Mapping[str, str]]) -> list[Pair]:
    """The pairs of students whose answer code is unusually similar, strongest first.

    `template`: function -> the release's answer cell; `codes`: student -> function -> their
    answer cell. At most MAX_PAIRS pairs."""
    functions = sorted({f for mine in codes.values() for f in mine})
    limit = common_limit(len(codes))
    # per function: student -> their uncommon k-grams (with lines), and the pairs' overlaps
    uncommon: dict[str, dict[str, dict[tuple[str, ...], set[int]]]] = {}
    shared: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for function in functions:
        stub = set(grams(tokens(template.get(function, ""))))
        mine = {s: {g: lines for g, lines in grams(tokens(c[function])).items() if g not in stub}
                for s, c in codes.items() if function in c}
        writers = Counter(g for gs in mine.values() for g in gs)
        mine = {s: {g: lines for g, lines in gs.items() if writers[g] <= limit} for s, gs in mine.items()}
        uncommon[function] = mine
        index: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for student in sorted(mine):
            for g in mine[student]:
                index[g].append(student)
        overlap: Counter = Counter()
        for who in index.values():
            overlap.update(combinations(who, 2))        # `who` is sorted: (a, b) with a < b
        for pair, n in overlap.items():
            shared[pair][function] = n

    pairs: list[Pair] = []
    for (a, b), per_function in shared.items():
        matches, inter, union = [], 0, 0
        for function in functions:
            ga, gb = uncommon[function].get(a, {}), uncommon[function].get(b, {})
            n = per_function.get(function, 0)
            size = len(ga) + len(gb) - n
            inter, union = inter + n, union + size
            if n:
                both = ga.keys() & gb.keys()
                matches.append(FunctionMatch(
                    function, n / size, n,
                    _lines(codes[a][function], set().union(*(ga[g] for g in both))),
                    _lines(codes[b][function], set().union(*(gb[g] for g in both)))))
        if any(m.shared >= MIN_SHARED and m.score >= MIN_SCORE for m in matches):
            matches.sort(key=lambda m: (-m.score, m.function))
            pairs.append(Pair(a, b, inter / union, matches))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return pairs[:MAX_PAIRS]
