"""Name matching: transliterations that must match, near-misses that must not, and the
properties the score keeps whatever the name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.risk.sanctions.lists import WatchEntry
from payhub.risk.sanctions.matching import DEFAULT_THRESHOLD, WatchIndex, compare_names
from payhub.risk.sanctions.names import plain, spellings


@pytest.mark.parametrize(
    ("screened", "listed"),
    [
        # Hanzi and pinyin, in either order, with commas, capitals, tone marks, tone numbers.
        ("Zhang Wei", "张伟"),
        ("Wei Zhang", "张伟"),
        ("ZHANG, Wei", "张伟"),
        ("Zhāng Wěi", "张伟"),
        ("zhang1 wei3", "张伟"),
        ("Zhangwei", "张伟"),
        ("張偉", "张伟"),  # traditional characters
        ("Zhang Weiming", "张伟明"),
        ("Weiming Zhang", "张伟明"),
        ("Zhang Wei Ming", "张伟明"),
        ("Ouyang Minghua", "欧阳明华"),  # compound surname
        ("Shan Xiongxin", "单雄信"),  # 单 read as a surname (shan), not dan
        ("Lyu Bu", "吕布"),
        ("Lv Bu", "吕布"),
        # Latin names: accents, punctuation, honorifics, legal forms, a dropped middle name.
        ("Maria Elena Castellanos Ruiz", "María Elena Castellanos Ruiz"),
        ("Mr. John O'Brien", "John OBrien"),
        ("Jean Luc Picard", "Jean-Luc Picard"),
        ("John Smith", "John Michael Smith"),
        ("Acme Trading Co., Ltd.", "ACME TRADING LIMITED"),
        ("Golden Cresent Shipping", "Golden Crescent Shipping LLC"),  # one letter missing
        ("Kimjongun", "Kim Jong Un"),
    ],
)
def test_variants_of_one_name_match(screened: str, listed: str) -> None:
    assert compare_names(screened, listed) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    ("screened", "listed"),
    [
        # One syllable of a short Chinese given name is another person. The whole-string
        # ratio is 88.9 (one letter in nine); the given names' own ratio is 66.7, and the
        # score is capped at the weakest part's similarity + 20: 86.7 < 88.
        ("Zhang Wen", "Zhang Wei"),
        ("Zhang Wen", "张伟"),
        ("Chen Jie", "Chen Jia"),
        # A one-character given name is not a two-character one.
        ("Zhang Wei", "Zhang Weiming"),
        ("Wei Zhang", "张伟明"),
        # A surname alone, or another surname.
        ("Zhang", "Zhang Wei"),
        ("Wang Wei", "张伟"),
        ("Li Na", "Li Ning"),
    ],
)
def test_near_misses_stay_below_the_threshold(screened: str, listed: str) -> None:
    assert compare_names(screened, listed) < DEFAULT_THRESHOLD


def test_normalisation() -> None:
    assert plain("  ZHANG,   Wei ") == "zhang wei"
    assert plain("Dr. Müller-Lüdenscheidt") == "muller ludenscheidt"
    assert plain("Ｚｈａｎｇ　Ｗｅｉ") == "zhang wei"  # full-width letters (NFKC)
    assert plain("张伟先生") == "zhang wei"
    assert plain("Ltd") == "ltd"  # nothing but a legal form: kept
    assert plain("...") == "" and spellings("") == []


def _index(*entries: WatchEntry) -> WatchIndex:
    return WatchIndex(list(entries))


def test_the_index_returns_the_entry_and_what_matched() -> None:
    index = _index(
        WatchEntry(
            "l", "1", "张伟", ("Zhang Wei",), countries=("cn",), birth_dates=("1975-04-18",)
        ),
        WatchEntry("l", "2", "张伟明"),
        WatchEntry("l", "3", "John Smith"),
    )
    hits = index.screen("ZHANG, Wei")
    assert [(h.entry.entry_id, h.score) for h in hits] == [("1", 100.0)]
    assert hits[0].matched_name in ("张伟", "Zhang Wei")
    assert hits[0].screened_name == "ZHANG, Wei"
    assert index.screen("Nobody Special") == []


def test_birth_date_and_country_move_the_score() -> None:
    index = _index(
        WatchEntry("l", "1", "Viktor Morozov", countries=("ru",), birth_dates=("1966-09-21",))
    )

    def score(**known: str) -> float:
        hits = index.screen("Viktor Morosov", threshold=50, **known)
        return hits[0].score if hits else 0.0

    plain_score = score()
    assert score(birth_date="1966-09-21") == pytest.approx(plain_score + 5, abs=0.11)
    assert score(birth_date="1966") == pytest.approx(plain_score + 5, abs=0.11)
    assert score(birth_date="1966-01-02") == pytest.approx(plain_score - 5, abs=0.11)
    assert score(birth_date="1990") == pytest.approx(plain_score - 15, abs=0.11)
    assert score(country="RU") == pytest.approx(plain_score + 3, abs=0.11)
    assert score(country="cn") == pytest.approx(plain_score - 5, abs=0.11)
    # Another year is enough to stay below the default threshold.
    assert index.screen("Viktor Morosov", birth_date="1990") == []


def test_entry_type_filters() -> None:
    index = _index(
        WatchEntry("l", "1", "Baltic Amber", entry_type="organisation"),
        WatchEntry("l", "2", "Baltic Amber"),
    )
    hits = index.screen("Baltic Amber", entry_type="organisation")
    assert [h.entry.entry_id for h in hits] == ["1"]


# ------------------------------------------------------------------------------ properties

_PARTS = st.lists(
    st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéüß张伟明李秀英王芳欧阳"),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(parts=_PARTS, listed=_PARTS, data=st.data())
def test_order_and_case_never_change_the_score(
    parts: list[str], listed: list[str], data: st.DataObject
) -> None:
    name = " ".join(parts)
    other = " ".join(listed)
    shuffled = " ".join(data.draw(st.permutations(parts)))
    assert compare_names(shuffled, other) == compare_names(name, other)
    assert compare_names(name.upper(), other) == compare_names(name, other)
    assert compare_names(name.title(), other.upper()) == compare_names(name, other)


@settings(max_examples=150, deadline=None)
@given(parts=_PARTS)
def test_a_name_always_matches_itself(parts: list[str]) -> None:
    name = " ".join(parts)
    if not spellings(name):
        return
    index = _index(WatchEntry("l", "1", name))
    hits = index.screen(name, threshold=100)
    assert [h.entry.entry_id for h in hits] == ["1"]
    assert hits[0].score == 100.0
