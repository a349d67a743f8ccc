"""Names as the matcher sees them: lists of tokens, in every spelling worth comparing.

A name is normalised the same way on both sides of a comparison: NFKC, case folded,
accents and pinyin tone marks or tone numbers removed, punctuation turned into spaces
(apostrophes dropped: "O'Brien" is "obrien"), honorifics and company legal forms left out.
Hanzi become pinyin syllables, one token each ("张伟" → "zhang wei"); where the surname
has several readings (单: dan/shan/chan) each reading is a variant. Simplified and
traditional characters give the same pinyin.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

from pypinyin import Style, lazy_pinyin, pinyin


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Titles that say nothing about who someone is.
HONORIFICS = _words(
    "mr mrs ms miss mx dr prof sir dame madam mme mlle herr frau sheikh shaikh hajji haji hon rev"
)
# Legal forms: "Acme Trading Co., Ltd." and "ACME TRADING LIMITED" are the same company.
LEGAL_FORMS = _words(
    "co ltd limited llc inc incorporated corp corporation company plc gmbh ag sa "
    "jsc ojsc pjsc cjsc llp lp bv nv srl spa oy ab as pte pty"
)
# The same, written in Hanzi, removed before the name becomes pinyin.
HANZI_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "集团",
    "公司",
    "先生",
    "女士",
    "小姐",
    "博士",
)
# Two-character surnames: the given name is what follows both characters.
COMPOUND_SURNAMES = _words(
    "欧阳 司马 诸葛 上官 尉迟 东方 皇甫 令狐 公孙 慕容 夏侯 "
    "司徒 长孙 宇文 端木 独孤 歐陽 諸葛 東方 長孫"
)
HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A personal name in Hanzi: two to four characters.
_PERSONAL_NAME = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,4}")
_APOSTROPHES = re.compile(r"[’'`ʼ‘]")
_NOT_WORD = re.compile(r"[^\w]+|_")
# A pinyin syllable written with its tone number ("zhang1", "lv3").
_TONE_NUMBER = re.compile(r"([a-z]+)[1-5]")
# Spellings of ü: "lü", "lv" and "lyu" are one syllable (pypinyin writes "lv" by default).
_U_UMLAUT = {"lv": "lu", "lyu": "lu", "nv": "nu", "nyu": "nu"}
# Joined spellings ("zhangwei") are compared for names of two or three parts: more parts
# are never written as one word, and every order of three is only six spellings.
MAX_JOINED_PARTS = 3
# The readings of one surname considered: enough for 单 (dan, shan, chan).
MAX_READINGS = 3


@dataclass(frozen=True, slots=True)
class Spelling:
    """One way of writing a name: its tokens, and the tokens of the name it came from
    (a joined spelling's `parts` are the parts it joins)."""

    tokens: tuple[str, ...]
    parts: tuple[str, ...]  # sorted: only which parts, not their order, is compared
    # Pinyin one syllable a token, where that splits a part of the name (the given name
    # of 张伟明, every word of a company written in Hanzi): "wei" is then no part of its
    # own, so dropping or adding one is no "middle name" (see `matching`).
    syllabic: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    """Latin text (accents, tone numbers and punctuation gone) as tokens."""
    text = _APOSTROPHES.sub("", _strip_accents(text).casefold())
    out = []
    for raw in _NOT_WORD.split(text):
        if not raw:
            continue
        token = _TONE_NUMBER.fullmatch(raw)
        word = token.group(1) if token else raw
        out.append(_U_UMLAUT.get(word, word))
    return out


def _drop_noise(tokens: list[str]) -> list[str]:
    """Without honorifics and legal forms, unless nothing else is left."""
    kept = [t for t in tokens if t not in HONORIFICS and t not in LEGAL_FORMS]
    return kept or tokens


def _strip_hanzi_suffixes(text: str) -> str:
    for suffix in HANZI_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


@lru_cache(maxsize=32768)
def _reading(char: str) -> str:
    found = _tokens(" ".join(lazy_pinyin(char, style=Style.NORMAL, v_to_u=True)))
    return found[0] if found else ""


@lru_cache(maxsize=4096)
def _surname_readings(char: str) -> tuple[str, ...]:
    readings = pinyin(char, style=Style.NORMAL, heteronym=True, v_to_u=True)[0]
    return tuple(dict.fromkeys(_tokens(" ".join(readings))))[:MAX_READINGS]


def _hanzi_spellings(text: str) -> list[tuple[list[str], bool]]:
    """A name written (partly) in Hanzi as pinyin tokens (and whether they are syllables
    splitting the name's parts): the reading pypinyin picks in context, and for a Hanzi
    name's surname each of its other readings."""
    text = _strip_hanzi_suffixes(text.strip())
    personal = bool(_PERSONAL_NAME.fullmatch(text))
    if personal:
        # Character by character (cached): a name is not a phrase, and lists hold tens of
        # thousands of them.
        base = [r for r in map(_reading, text) if r]
    else:
        # Longer text (a company) reads better in phrases: 银行 is "yin hang".
        base = _tokens(" ".join(lazy_pinyin(text, style=Style.NORMAL, v_to_u=True)))
    if not personal:
        return [(base, True)]
    readings = [base]
    if text[:2] not in COMPOUND_SURNAMES:
        readings += [[r, *base[1:]] for r in _surname_readings(text[0]) if r != base[0]]
    # Written in Latin letters a Chinese name is surname and given name, each one word:
    # 张伟明 is "Zhang Weiming", 欧阳明华 "Ouyang Minghua".
    cut = 2 if text[:2] in COMPOUND_SURNAMES else 1
    if len(base) <= cut + 1 and cut == 1:
        return [(r, False) for r in readings]  # 张伟: each syllable is a part already
    grouped = [["".join(r[:cut]), "".join(r[cut:])] for r in readings]
    return [(r, True) for r in readings] + [(g, False) for g in grouped]


def spellings(name: str, *, every_order: bool = True) -> list[Spelling]:
    """Every spelling of `name` the matcher compares, the plain one first; empty when the
    name holds no letters at all.

    Joined spellings come in every order of the parts for a name being screened (so the
    order it was typed in never matters), and for a list entry in its own order and
    reversed (surname first or last): enough to meet every order of the other side, for a
    third of the index."""
    text = unicodedata.normalize("NFKC", name)
    token_lists = _hanzi_spellings(text) if HANZI.search(text) else [(_tokens(text), False)]
    out: dict[tuple[str, ...], Spelling] = {}
    for raw, syllabic in token_lists:
        tokens = tuple(_drop_noise(raw))
        if not tokens:
            continue
        parts = tuple(sorted(tokens))
        out.setdefault(tokens, Spelling(tokens, parts, syllabic))
        if 2 <= len(tokens) <= MAX_JOINED_PARTS:
            # "Zhangwei", "Weizhang", "KIMJONGUN": parts run together, in any order.
            orders = permutations(tokens) if every_order else (tokens, tokens[::-1])
            for order in orders:
                joined = ("".join(order),)
                out.setdefault(joined, Spelling(joined, parts))
    return list(out.values())


def plain(name: str) -> str:
    """The name's first spelling as one string ("" if it has none): for display and keys."""
    found = spellings(name)
    return found[0].text if found else ""
