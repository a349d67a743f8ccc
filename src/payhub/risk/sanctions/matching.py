"""Fuzzy name matching against a watch list, indexed so a screen touches only likely names.

Score of a screened name against an entry's name (0–100), the best over their spellings
(`names.spellings`):
- the larger of rapidfuzz's `token_sort_ratio` (token order does not matter) and its
  `token_set_ratio` less `EXTRA_PART_PENALTY` per part one name has beyond the other
  (a dropped middle name still matches; "Zhang" alone never matches "Zhang Wei": set
  matching needs two parts on each side);
- capped at the weakest part's own similarity plus `PART_SLACK`, when both names have two
  parts or more: every part must resemble a part of the other (or two of its parts run
  together). A whole-string ratio forgives one wrong letter in nine, which for short
  Chinese names is another person: "Zhang Wen" against "Zhang Wei" scores 88.9 on the
  string but 66.7 on the given name, so 86.7 — below the default threshold of 88;
- then a birth date and a country, when both sides have one, move it: the same date (to
  the precision both give) +5, the same year only −5, another year −15; a shared country
  +3, none shared −5.

The index maps pairs of parts (their first three letters, and their last three) and
one-word spellings (first and last three letters) to the spellings holding them. A
screen gathers the spellings sharing a key with the screened name, scores them all at
once in rapidfuzz's C++ (`cdist` with `token_ratio`, an upper bound of the score before
the birth date and country), and scores the few that can still reach the threshold in
full. A name therefore matches only if two of its parts start (or end) with the same three
letters as two of the entry's, or, written as one word, it starts and ends like the
entry's spelling; a name that differs from an entry's more than that would not score
above the threshold anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations, permutations

from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from payhub.risk.sanctions.lists import WatchEntry
from payhub.risk.sanctions.names import Spelling, spellings

DEFAULT_THRESHOLD = 88.0
EXTRA_PART_PENALTY = 8.0
PART_SLACK = 20.0
SAME_BIRTH_DATE = 5.0
SAME_BIRTH_YEAR = -5.0
OTHER_BIRTH_YEAR = -15.0
SAME_COUNTRY = 3.0
OTHER_COUNTRY = -5.0
# The most the birth date and country can add: spellings scoring below the threshold by
# more than this cannot become hits.
MAX_BONUS = SAME_BIRTH_DATE + SAME_COUNTRY
# Parts considered two at a time when aligning names; longer names align part by part.
MAX_PAIRED_PARTS = 6


@dataclass(frozen=True, slots=True)
class Hit:
    entry: WatchEntry
    score: float
    matched_name: str  # the entry's name or alias that matched
    screened_name: str  # the subject's name that matched it


def _pair_keys(tokens: Sequence[str]) -> Iterable[str]:
    if len(tokens) == 1:
        token = tokens[0]
        yield f"j{token[:3]}|{token[-3:]}"
        return
    for a, b in combinations(tokens, 2):
        yield "p" + "|".join(sorted((a[:3], b[:3])))
        yield "s" + "|".join(sorted((a[-3:], b[-3:])))


def _aligned(short: Sequence[str], long: Sequence[str]) -> float:
    """How well the weakest part of `short` finds a part (or two parts run together) of
    `long`."""
    targets = list(long)
    if len(long) <= MAX_PAIRED_PARTS:
        targets += ["".join(pair) for pair in permutations(long, 2)]
    return min(max(fuzz.ratio(part, t) for t in targets) for part in short)


def _weakest_part(a: Sequence[str], b: Sequence[str]) -> float:
    if len(a) == len(b):
        return max(_aligned(a, b), _aligned(b, a))
    return _aligned(a, b) if len(a) < len(b) else _aligned(b, a)


def name_score(
    a: Spelling, b: Spelling, aligned: dict[tuple[tuple[str, ...], ...], float] | None = None
) -> float:
    """The similarity of two spellings, before birth dates and countries. `aligned` keeps
    part alignments across calls (the spellings of one name share their parts)."""
    score = fuzz.token_sort_ratio(a.text, b.text)
    distinct_a, distinct_b = set(a.tokens), set(b.tokens)
    if min(len(distinct_a), len(distinct_b)) >= 2 and not (a.syllabic or b.syllabic):
        extra = abs(len(distinct_a) - len(distinct_b))
        score = max(score, fuzz.token_set_ratio(a.text, b.text) - EXTRA_PART_PENALTY * extra)
    if len(a.parts) >= 2 and len(b.parts) >= 2 and score > PART_SLACK:
        key = (a.parts, b.parts)
        weakest = aligned.get(key) if aligned is not None else None
        if weakest is None:
            weakest = _weakest_part(a.parts, b.parts)
            if aligned is not None:
                aligned[key] = weakest
        score = min(score, weakest + PART_SLACK)
    return float(score)


def compare_names(a: str, b: str) -> float:
    """The best score between any spellings of two names (0 if either has none)."""
    best = 0.0
    for x in spellings(a):
        for y in spellings(b):
            best = max(best, name_score(x, y))
    return round(best, 1)


def _birth_date_bonus(given: str | None, listed: Sequence[str]) -> float:
    if not given or not listed:
        return 0.0
    if any(d.startswith(given) or given.startswith(d) for d in listed):
        return SAME_BIRTH_DATE
    if any(d[:4] == given[:4] for d in listed):
        return SAME_BIRTH_YEAR
    return OTHER_BIRTH_YEAR


def _country_bonus(given: str | None, listed: Sequence[str]) -> float:
    if not given or not listed:
        return 0.0
    return SAME_COUNTRY if given.lower() in listed else OTHER_COUNTRY


class WatchIndex:
    """The entries of the watch lists in force, ready to screen names against.

    Spellings are held once however many entries share them (a list may hold dozens of
    "Zhang Wei"), so a common name costs one comparison, not one per entry."""

    def __init__(self, entries: Sequence[WatchEntry]) -> None:
        self.entries = list(entries)
        self._spellings: list[Spelling] = []
        # For each spelling: (entry, the entry's name or alias it spells).
        self._holders: list[list[tuple[int, str]]] = []
        self._blocks: dict[str, list[int]] = {}
        numbers: dict[Spelling, int] = {}
        for index, entry in enumerate(self.entries):
            for name in dict.fromkeys((entry.name, *entry.aliases)):
                for spelling in spellings(name, every_order=False):
                    number = numbers.get(spelling)
                    if number is None:
                        number = numbers[spelling] = len(self._spellings)
                        self._spellings.append(spelling)
                        self._holders.append([])
                        for block in set(_pair_keys(spelling.tokens)):
                            self._blocks.setdefault(block, []).append(number)
                    self._holders[number].append((index, name))
        self._texts = [s.text for s in self._spellings]

    @property
    def spellings(self) -> int:
        return len(self._spellings)

    def _candidates(self, screened: Sequence[Spelling]) -> list[int]:
        blocks = {b for s in screened for b in _pair_keys(s.tokens)}
        found: set[int] = set()
        for block in blocks:
            found.update(self._blocks.get(block, ()))
        return sorted(found)

    def screen(
        self,
        name: str,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        birth_date: str | None = None,
        country: str | None = None,
        entry_type: str | None = None,
    ) -> list[Hit]:
        """The entries `name` matches at `threshold` or above, best first (one hit per
        entry, its best-matching name)."""
        screened = spellings(name)
        candidates = self._candidates(screened)
        if not candidates:
            return []
        bounds = cdist(
            [s.text for s in screened],
            [self._texts[i] for i in candidates],
            scorer=fuzz.token_ratio,
            score_cutoff=max(0.0, threshold - MAX_BONUS),
            workers=1,
        )
        # The best name score of each spelling that may still reach the threshold.
        scored: dict[int, float] = {}
        aligned: dict[tuple[tuple[str, ...], ...], float] = {}
        for row, column in zip(*bounds.nonzero(), strict=True):
            number = candidates[column]
            if scored.get(number, -1.0) >= bounds[row, column]:
                continue  # cannot beat what this spelling already scored
            score = name_score(screened[row], self._spellings[number], aligned)
            scored[number] = max(score, scored.get(number, -1.0))
        best: dict[int, tuple[float, str]] = {}
        for number, score in scored.items():
            if score + MAX_BONUS < threshold:
                continue
            for index, matched in self._holders[number]:
                if score > best.get(index, (-1.0, ""))[0]:
                    best[index] = (score, matched)
        hits = []
        for index, (score, matched) in best.items():
            entry = self.entries[index]
            if entry_type is not None and entry.entry_type != entry_type:
                continue
            final = score + _birth_date_bonus(birth_date, entry.birth_dates)
            final += _country_bonus(country, entry.countries)
            final = round(min(100.0, max(0.0, final)), 1)
            if final >= threshold:
                hits.append(Hit(entry, final, matched, name))
        hits.sort(key=lambda h: (-h.score, h.entry.list_name, h.entry.entry_id))
        return hits
