"""How screening time grows with the list: a seeded synthetic list (Chinese names in Hanzi,
Latin names, companies), indexed, then screened with a fixed set of names.

The list is made of few distinct parts (a hundred surnames, a few dozen given-name
characters, made-up Latin words), so common names repeat far more than on a real list:
more candidates per screen, a pessimistic figure.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from payhub.risk.sanctions.lists import WatchEntry
from payhub.risk.sanctions.matching import DEFAULT_THRESHOLD, WatchIndex


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅海燕文辉鹏飞林云晓东晨宇浩然"
)
_FIRST = _words(
    "james john robert michael william david richard joseph thomas charles maria elena ivan "
    "sergei ahmed omar ali hassan fatima olga anna peter paul mark"
)
_LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez petrov ivanov "
    "sokolov hussein rahman khan kim park lee nguyen tran silva santos"
)
_SYLLABLES = _words(
    "ka ri mo sa le na vo di ter gan bel ro min ash tor vel ar in os ul per shi dra ko lu ben "
    "hal mar tin"
)
_TRADES = _words(
    "trading shipping holdings energy petroleum logistics industries import export capital "
    "metals minerals technology"
)
SCREENED = (
    "Zhang Wei",
    "王芳",
    "John Smith",
    "Ahmed Hassan Khan",
    "Petroleum Trading Holdings",
    "Maria Elena Garcia",
    "李娜",
    "Nobody Special",
)


def synthetic_list(size: int, seed: int = 7) -> list[WatchEntry]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible list, not a secret

    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).title()

    out = []
    for i in range(size):
        draw = rng.random()
        if draw < 0.4:
            name = rng.choice(_SURNAMES) + "".join(
                rng.choice(_GIVEN) for _ in range(rng.choice((1, 2)))
            )
            year = str(rng.randint(1940, 2000))
            out.append(WatchEntry("bench", str(i), name, (), "person", ("cn",), (year,)))
        elif draw < 0.8:
            first = rng.choice(_FIRST).title() if rng.random() < 0.5 else word()
            last = rng.choice(_LAST).title() if rng.random() < 0.3 else word()
            middle = [word()] if rng.random() < 0.3 else []
            name = " ".join([first, *middle, last])
            out.append(WatchEntry("bench", str(i), name, (name.upper(),)))
        else:
            trades = [t.title() for t in rng.sample(_TRADES, 2)]
            name = " ".join([word(), *trades, rng.choice(("Ltd", "LLC", "Co"))])
            out.append(WatchEntry("bench", str(i), name, entry_type="organisation"))
    return out


@dataclass(frozen=True, slots=True)
class BenchResult:
    entries: int
    spellings: int
    build_s: float
    median_ms: float
    p95_ms: float
    max_ms: float
    hits_per_screen: float


def run(size: int, *, rounds: int = 5, threshold: float = DEFAULT_THRESHOLD) -> BenchResult:
    entries = synthetic_list(size)
    started = time.perf_counter()
    index = WatchIndex(entries)
    build = time.perf_counter() - started
    for name in SCREENED:  # warm the caches (pinyin readings) before timing
        index.screen(name, threshold=threshold)
    times: list[float] = []
    found = 0
    for _ in range(rounds):
        for name in SCREENED:
            started = time.perf_counter()
            found += len(index.screen(name, threshold=threshold))
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return BenchResult(
        entries=size,
        spellings=index.spellings,
        build_s=build,
        median_ms=times[len(times) // 2],
        p95_ms=times[min(len(times) - 1, int(len(times) * 0.95))],
        max_ms=times[-1],
        hits_per_screen=found / len(times),
    )
