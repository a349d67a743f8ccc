"""Seeded, labelled synthetic traffic for `payhub bench aml`.

Ordinary life first, for customers, merchants and accounts: payments to merchants with a
daily and weekly rhythm and log-normal amounts by merchant kind (small-ticket, retail,
subscriptions at a fixed price), refunds, merchants' daily payouts, monthly payroll and
rent, transfers between friends and family, trips with plausible travel times. Mixed into
it, hard negatives that look like the typologies: payroll fan-out, subscription merchants
(many payers, one amount), new merchants gathering first customers, salary then rent,
family money passed on within hours, bursts of a few small payments, customers back after
a long pause, travellers, location glitches, refunds (two-step cycles).

Then the typologies, injected into the scored period only, each transaction labelled with
its family: the AMLSim / AMLworld shapes (fan-out, fan-in, cycle, scatter-gather,
gather-scatter), rapid in-and-out, dormant-then-active, many-to-one collection, and the
mission's two patterns (high-frequency small amounts, location anomaly).

A warm-up period of ordinary traffic comes first: a monitor in production has seen last
month's payroll and rent; the scored figures cover only the period after it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from payhub.risk.monitoring import TYPOLOGIES, Transaction

_T = TypeVar("_T")

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
CURRENCY = "CNY"
YUAN = 100  # minor units

# (name, latitude, longitude) of the cities customers live in and travel to.
CITIES: tuple[tuple[str, float, float], ...] = (
    ("Beijing", 39.90, 116.40),
    ("Shanghai", 31.23, 121.47),
    ("Guangzhou", 23.13, 113.26),
    ("Shenzhen", 22.54, 114.06),
    ("Chengdu", 30.57, 104.07),
    ("Hangzhou", 30.27, 120.16),
    ("Wuhan", 30.59, 114.31),
    ("Xi'an", 34.34, 108.94),
    ("Chongqing", 29.56, 106.55),
    ("Nanjing", 32.06, 118.80),
    ("Tianjin", 39.34, 117.36),
    ("Shenyang", 41.81, 123.43),
    ("Harbin", 45.80, 126.53),
    ("Kunming", 25.04, 102.71),
    ("Urumqi", 43.83, 87.62),
    ("Lhasa", 29.65, 91.17),
    ("Xiamen", 24.48, 118.09),
    ("Qingdao", 36.07, 120.38),
    ("Changsha", 28.23, 112.94),
    ("Zhengzhou", 34.75, 113.62),
)

# Share of a day's payments per local (UTC+8) hour: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = (
    1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 4, 5, 7, 9, 7, 5, 5, 5, 6, 8, 9, 8, 6, 4, 2,
)  # fmt: skip
WEEKDAY_FACTOR = (0.9, 0.9, 0.95, 1.0, 1.1, 1.3, 1.2)  # Monday first

# Merchant kinds: (share of merchants, median amount in yuan, sigma of log amount)
MERCHANT_KINDS: dict[str, tuple[float, float, float]] = {
    "small_ticket": (0.45, 35, 0.5),
    "retail": (0.4, 220, 0.9),
    "subscription": (0.05, 30, 0.0),
    "premium": (0.1, 1_800, 0.7),
}


@dataclass(frozen=True, slots=True)
class Labelled:
    tx: Transaction
    typology: str | None  # None: ordinary traffic


@dataclass(slots=True)
class GeneratedSet:
    seed: int
    transactions: list[Labelled]  # in time order, warm-up included
    scored_from: datetime
    instances: dict[str, int] = field(default_factory=dict)  # typology → injected patterns

    @property
    def scored(self) -> list[Labelled]:
        return [t for t in self.transactions if t.tx.at >= self.scored_from]


@dataclass(slots=True)
class _Customer:
    id: str
    city: int
    activity: float  # payments per day
    favourites: list[int]  # merchant indexes
    located: bool  # its payments carry a location
    trip: tuple[datetime, datetime, datetime, datetime, int] | None = None
    # (leave, arrive, leave back, home again, city) — no payment while in transit
    active_until: datetime | None = None  # an occasional customer goes quiet


@dataclass(slots=True)
class _Merchant:
    id: str
    kind: str
    price: int  # subscriptions: the one price
    account: str  # where payouts go
    opens: datetime


class _World:
    """Parties, the random source and the transactions made so far."""

    def __init__(self, seed: int, size: int, days: int, warmup_days: int) -> None:
        self.rng = random.Random(seed)
        self.start = START
        self.scored_from = START + timedelta(days=warmup_days)
        self.end = self.scored_from + timedelta(days=days)
        self.out: list[Labelled] = []
        self._seq = 0
        self._accounts = 0
        per_day = size / days
        # About one payment every two days per customer: the customer count follows size.
        self.customers: list[_Customer] = []
        self.merchants: list[_Merchant] = []
        self.per_day = per_day
        self._people(max(100, int(per_day * 2.2)))

    # --- ids and transactions ----------------------------------------------------------

    def account(self) -> str:
        self._accounts += 1
        return f"acct_{self.rng.getrandbits(40):010x}"

    def emit(
        self,
        at: datetime,
        source: str,
        target: str,
        amount: int,
        kind: str,
        typology: str | None = None,
        where: tuple[float, float] | None = None,
    ) -> None:
        self._seq += 1
        tx = Transaction(
            id=f"tx{self._seq:08d}",
            at=at,
            source=source,
            target=target,
            amount=max(1, amount),
            currency=CURRENCY,
            kind=kind,
            latitude=where[0] if where else None,
            longitude=where[1] if where else None,
        )
        self.out.append(Labelled(tx, typology))

    def lognormal(self, median_yuan: float, sigma: float) -> int:
        return max(1, round(median_yuan * YUAN * math.exp(self.rng.gauss(0, sigma))))

    def moment(self, day: datetime) -> datetime:
        """A time on `day` (UTC midnight) following the local hourly rhythm."""
        local_hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
        seconds = ((local_hour - 8) % 24) * 3600 + self.rng.randrange(3600)
        return day + timedelta(seconds=seconds)

    def near(self, city: int, spread: float = 0.08) -> tuple[float, float]:
        _, lat, lon = CITIES[city]
        return lat + self.rng.uniform(-spread, spread), lon + self.rng.uniform(-spread, spread)

    # --- parties ---------------------------------------------------------------------------

    def _people(self, customers: int) -> None:
        rng = self.rng
        kinds = list(MERCHANT_KINDS)
        weights = [MERCHANT_KINDS[k][0] for k in kinds]
        for n in range(max(20, customers // 40)):
            kind = rng.choices(kinds, weights)[0]
            price = round(rng.choice((19, 25, 30, 68, 99, 199)) * YUAN)
            # A tenth of the merchants open during the scored period (first customers then).
            opens = self.start
            if rng.random() < 0.1:
                opens = self.scored_from + timedelta(days=rng.uniform(0, 40))
            self.merchants.append(_Merchant(f"mer_{n:05d}", kind, price, self.account(), opens))
        popularity = [1 / (i + 1) ** 0.8 for i in range(len(self.merchants))]
        rng.shuffle(popularity)
        self.popularity = popularity
        for n in range(customers):
            city = min(len(CITIES) - 1, int(rng.expovariate(0.25)))
            favourites = rng.choices(range(len(self.merchants)), popularity, k=5)
            customer = _Customer(
                f"cus_{n:06d}",
                city,
                activity=rng.lognormvariate(0, 0.8),
                favourites=favourites,
                located=rng.random() < 0.7,
            )
            if rng.random() < 0.06:
                customer.trip = self._trip(city)
            if rng.random() < 0.02:
                customer.active_until = self.start + timedelta(days=rng.uniform(1, 4))
            self.customers.append(customer)
        quiet = [c for c in self.customers if c.active_until is not None]
        # Half of the quiet customers come back with an ordinary payment (a hard negative),
        # the other half are kept for the dormant-then-active typology.
        self.returning = quiet[::2]
        self.sleepers = quiet[1::2]
        self.active = [c for c in self.customers if c.active_until is None]
        mean = sum(c.activity for c in self.customers) / len(self.customers)
        scale = self.per_day * 0.8 / (mean * len(self.customers))
        for c in self.customers:
            c.activity *= scale

    def _trip(self, home: int) -> tuple[datetime, datetime, datetime, datetime, int]:
        rng = self.rng
        city = rng.choice([i for i in range(len(CITIES)) if i != home])
        (_, a, b), (_, c, d) = CITIES[home], CITIES[city]
        km = _km(a, b, c, d)
        transit = timedelta(hours=km / 600 + rng.uniform(1.5, 4))  # a flight or a fast train
        leave = self.start + timedelta(days=rng.uniform(0, (self.end - self.start).days - 8))
        arrive = leave + transit
        back = arrive + timedelta(days=rng.uniform(1, 6))
        return leave, arrive, back, back + transit, city

    def where(self, customer: _Customer, at: datetime) -> tuple[datetime, tuple[float, float]]:
        """Where the customer pays from at `at` (moved out of any transit)."""
        city = customer.city
        if customer.trip is not None:
            leave, arrive, back, home, away = customer.trip
            if leave <= at < arrive:
                at = arrive + (at - leave) % timedelta(hours=6)
            elif back <= at < home:
                at = home + (at - back) % timedelta(hours=6)
            if arrive <= at < back:
                city = away
        if self.rng.random() < 0.0004:
            # A location glitch (a roaming IP's country of registration, a bad GPS fix).
            city = self.rng.randrange(len(CITIES))
            return at, self.near(city, 1.0)
        return at, self.near(city)


def _some(rng: random.Random, population: Sequence[_T], k: int) -> list[_T]:
    """`k` distinct members, or all of them in a small world."""
    return rng.sample(population, min(k, len(population)))


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


# --- ordinary traffic ---------------------------------------------------------------------


def _days(world: _World) -> list[datetime]:
    days = (world.end - world.start).days
    return [world.start + timedelta(days=d) for d in range(days)]


def _payments(world: _World) -> None:
    """Customers paying merchants, refunds, and each merchant's daily payout."""
    rng = world.rng
    takings: dict[tuple[int, datetime], int] = {}
    weights = [c.activity for c in world.customers]
    for day in _days(world):
        count = round(sum(weights) * WEEKDAY_FACTOR[day.weekday()] * rng.uniform(0.9, 1.1))
        for c_index in rng.choices(range(len(world.customers)), weights, k=count):
            customer = world.customers[c_index]
            at = world.moment(day)
            if customer.active_until is not None and at > customer.active_until:
                continue
            if rng.random() < 0.75:
                m_index = rng.choice(customer.favourites)
            else:
                m_index = rng.choices(range(len(world.merchants)), world.popularity)[0]
            merchant = world.merchants[m_index]
            if at < merchant.opens:
                continue
            at, place = world.where(customer, at)
            _, median, sigma = MERCHANT_KINDS[merchant.kind]
            amount = (
                merchant.price
                if merchant.kind == "subscription"
                else world.lognormal(median, sigma)
            )
            where = place if customer.located else None
            world.emit(at, customer.id, merchant.id, amount, "payment", where=where)
            paid_day = at.replace(hour=0, minute=0, second=0, microsecond=0)
            takings[(m_index, paid_day)] = takings.get((m_index, paid_day), 0) + amount
            if rng.random() < 0.02:
                later = at + timedelta(hours=rng.uniform(2, 240))
                world.emit(later, merchant.id, customer.id, amount, "refund")
        # A burst of a few small payments (group buying, a food court): 5 to 9 in an hour.
        for _ in range(rng.randrange(0, 3)):
            customer = rng.choice(world.active)
            at = world.moment(day)
            for _ in range(rng.randint(5, 9)):
                merchant = world.merchants[rng.choice(customer.favourites)]
                at_n, place = world.where(customer, at + timedelta(minutes=rng.uniform(0, 55)))
                where = place if customer.located else None
                world.emit(
                    at_n, customer.id, merchant.id, world.lognormal(30, 0.5), "payment", where=where
                )
    # A fifth of the merchants' owners sweep each payout to their savings within hours
    # (a rapid in-and-out to a payee they always pay).
    savings = {m: world.account() for m in range(len(world.merchants)) if rng.random() < 0.2}
    for (m_index, day), amount in takings.items():
        merchant = world.merchants[m_index]
        at = day + timedelta(days=1, hours=rng.uniform(1, 3))  # the next morning, UTC
        paid = amount * 994 // 1000
        world.emit(at, merchant.id, merchant.account, paid, "payout")
        if m_index in savings:
            world.emit(
                at + timedelta(hours=rng.uniform(0.5, 4)),
                merchant.account,
                savings[m_index],
                paid * rng.randint(90, 100) // 100,
                "transfer",
            )


def _resellers(world: _World) -> None:
    """Resellers buying game cards or top-ups: ten or more small payments within an hour,
    every week or so, legitimately. A third of them start during the scored period."""
    rng = world.rng
    for _ in range(max(2, len(world.customers) // 1000)):
        buyer = rng.choice(world.active)
        shop = rng.choice(world.merchants)
        at = world.start + timedelta(days=rng.uniform(0, 7))
        if rng.random() < 1 / 3:
            at = _when(world, 21)
        while at < world.end:
            for _ in range(rng.randint(10, 16)):
                world.emit(
                    at + timedelta(minutes=rng.uniform(0, 50)),
                    buyer.id,
                    shop.id,
                    rng.randint(20, 150) * YUAN,
                    "payment",
                )
            at += timedelta(days=rng.uniform(5, 9))


def _sleepers(world: _World) -> None:
    """The customers who go quiet early pay a few times before they do."""
    rng = world.rng
    for customer in (*world.sleepers, *world.returning):
        assert customer.active_until is not None
        for _ in range(rng.randint(2, 4)):
            at = world.start + (customer.active_until - world.start) * rng.random()
            merchant = world.merchants[rng.choice(customer.favourites)]
            world.emit(at, customer.id, merchant.id, world.lognormal(80, 0.8), "payment")


def _payroll_and_rent(world: _World) -> None:
    """Employers pay their staff monthly (the day fixed per employer); staff pay rent to
    their landlord within days (some within hours) of payday; employers are paid by their
    clients weekly; landlords have a handful of tenants."""
    rng = world.rng
    customers = world.active
    employers = max(3, len(customers) // 300)
    for n in range(employers):
        employer = world.account()
        staff = _some(rng, customers, rng.randint(20, 160))
        payday = rng.randint(1, 28)
        # A tenth of the employers are new in the scored period: their first payroll is a
        # fan-out to people they never paid (a hard negative the monitor will flag).
        joins = world.scored_from if n % 10 == 9 else world.start
        salaries = {c.id: world.lognormal(9_000, 0.45) for c in staff}
        clients = [world.account() for _ in range(rng.randint(3, 8))]
        landlords = [world.account() for _ in range(max(1, len(staff) // 4))]
        rent = {c.id: (rng.choice(landlords), world.lognormal(3_000, 0.4)) for c in staff}
        for day in _days(world):
            if day < joins:
                continue
            if day.weekday() == 2:
                bill = sum(salaries.values()) // 3
                for client in clients:
                    share = bill // len(clients)
                    world.emit(world.moment(day), client, employer, share, "transfer")
            if day.day != payday:
                continue
            run = day + timedelta(hours=rng.uniform(1, 3))
            for c in staff:
                if c.active_until is not None and run > c.active_until:
                    continue
                world.emit(
                    run + timedelta(seconds=rng.randrange(600)),
                    employer,
                    c.id,
                    salaries[c.id],
                    "transfer",
                )
                landlord, amount = rent[c.id]
                delay = timedelta(
                    hours=rng.uniform(1, 8) if rng.random() < 0.3 else rng.uniform(12, 96)
                )
                world.emit(run + delay, c.id, landlord, amount, "transfer")
            # New hires now and then: a few receivers the employer never paid before.
            if rng.random() < 0.3:
                for c in _some(rng, customers, rng.randint(1, 4)):
                    staff.append(c)
                    salaries[c.id] = world.lognormal(8_000, 0.4)
                    rent[c.id] = (rng.choice(landlords), world.lognormal(3_000, 0.4))


def _transfers(world: _World) -> None:
    """Friends and family: small transfers, sometimes large ones, and money passed on
    within hours (a parent's transfer forwarded to a sibling)."""
    rng = world.rng
    customers = world.active
    for day in _days(world):
        for _ in range(max(1, round(world.per_day * 0.06))):
            a, b = rng.sample(customers, 2)
            amount = world.lognormal(200, 1.0)
            if rng.random() < 0.1:
                amount = world.lognormal(12_000, 0.6)
            world.emit(world.moment(day), a.id, b.id, amount, "transfer")
        for _ in range(rng.randrange(0, 2)):
            a, b, c = rng.sample(customers, 3)
            at = world.moment(day)
            amount = world.lognormal(15_000, 0.5)
            world.emit(at, a.id, b.id, amount, "transfer")
            passed = amount * rng.uniform(0.5, 1.0)
            world.emit(
                at + timedelta(hours=rng.uniform(0.5, 8)), b.id, c.id, round(passed), "transfer"
            )
        # A group collecting the same share from friends (a trip deposit, a gift): many
        # payers, one amount, a new payee.
        if rng.random() < 1 / 7:
            organiser = world.account()
            share = world.lognormal(900, 0.6)
            start = world.moment(day)
            for friend in _some(rng, customers, rng.randint(6, 25)):
                world.emit(
                    start + timedelta(hours=rng.uniform(0, 72)),
                    friend.id,
                    organiser,
                    share,
                    "transfer",
                )
        # An occasional customer back after a long pause, with an ordinary payment.
        if rng.random() < 0.3 and world.returning and day >= world.scored_from:
            c = world.returning.pop()
            merchant = world.merchants[rng.choice(c.favourites)]
            world.emit(world.moment(day), c.id, merchant.id, world.lognormal(80, 0.8), "payment")


# --- typologies ---------------------------------------------------------------------------


def _when(world: _World, margin_days: float = 4) -> datetime:
    span = (world.end - world.scored_from).total_seconds() - margin_days * 86400
    return world.scored_from + timedelta(seconds=world.rng.uniform(0, span))


def _party(world: _World, new_share: float = 0.6) -> str:
    """A fresh account most of the time, else an existing customer (a recruited mule)."""
    if world.rng.random() < new_share:
        return world.account()
    return world.rng.choice(world.active).id


def _split(world: _World, total: int, parts: int, noise: float = 0.15) -> list[int]:
    shares = [world.rng.uniform(1 - noise, 1 + noise) for _ in range(parts)]
    scale = total / sum(shares)
    return [max(1, round(s * scale)) for s in shares]


def _fan_out(world: _World) -> int:
    rng = world.rng
    source, at = _party(world), _when(world)
    receivers = rng.randint(6, 20)
    spread = timedelta(hours=rng.uniform(2, 72))
    for amount in _split(world, world.lognormal(150_000, 0.6), receivers):
        world.emit(at + spread * rng.random(), source, _party(world), amount, "transfer", "fan_out")
    return receivers


def _fan_in(world: _World) -> int:
    rng = world.rng
    target, at = _party(world, 0.8), _when(world)
    senders = rng.randint(6, 20)
    spread = timedelta(hours=rng.uniform(2, 72))
    for _ in range(senders):
        world.emit(
            at + spread * rng.random(),
            _party(world),
            target,
            world.lognormal(9_000, 0.4),
            "transfer",
            "fan_in",
        )
    return senders


def _cycle(world: _World) -> int:
    rng = world.rng
    ring = [_party(world) for _ in range(rng.randint(3, 5))]
    at, amount = _when(world), world.lognormal(80_000, 0.8)
    for i, source in enumerate(ring):
        world.emit(at, source, ring[(i + 1) % len(ring)], amount, "transfer", "cycle")
        at += timedelta(hours=rng.uniform(1, 24))
        amount = round(amount * rng.uniform(0.85, 0.99))
    return len(ring)


def _scatter_gather(world: _World) -> int:
    rng = world.rng
    source, sink, at = _party(world), _party(world), _when(world)
    middles = rng.randint(3, 10)
    for amount in _split(world, world.lognormal(120_000, 0.6), middles):
        middle = world.account()
        first = at + timedelta(hours=rng.uniform(0, 12))
        world.emit(first, source, middle, amount, "transfer", "scatter_gather")
        later = first + timedelta(hours=rng.uniform(1, 24))
        world.emit(
            later,
            middle,
            sink,
            round(amount * rng.uniform(0.9, 0.99)),
            "transfer",
            "scatter_gather",
        )
    return 2 * middles


def _gather_scatter(world: _World) -> int:
    rng = world.rng
    hub, at = world.account(), _when(world)
    n_in, n_out = rng.randint(3, 10), rng.randint(3, 10)
    amounts = [world.lognormal(15_000, 0.4) for _ in range(n_in)]
    for amount in amounts:
        world.emit(
            at + timedelta(hours=rng.uniform(0, 20)),
            _party(world),
            hub,
            amount,
            "transfer",
            "gather_scatter",
        )
    passed = round(sum(amounts) * rng.uniform(0.85, 0.98))
    for amount in _split(world, passed, n_out):
        world.emit(
            at + timedelta(hours=rng.uniform(21, 44)),
            hub,
            _party(world),
            amount,
            "transfer",
            "gather_scatter",
        )
    return n_in + n_out


def _rapid(world: _World) -> int:
    rng = world.rng
    mule, at = _party(world, 0.5), _when(world)
    ins = rng.randint(1, 3)
    total = 0
    for _ in range(ins):
        amount = world.lognormal(60_000, 0.7)
        total += amount
        world.emit(at, _party(world), mule, amount, "transfer", "rapid_in_out")
        at += timedelta(minutes=rng.uniform(1, 60))
    outs = rng.randint(1, 3)
    at += timedelta(hours=rng.uniform(0.2, 8))
    for amount in _split(world, round(total * rng.uniform(0.7, 0.99)), outs):
        world.emit(at, mule, _party(world), amount, "transfer", "rapid_in_out")
        at += timedelta(minutes=rng.uniform(1, 30))
    return ins + outs


def _dormant(world: _World) -> int:
    rng = world.rng
    if not world.sleepers:
        return 0
    sleeper, at = world.sleepers.pop(), _when(world)
    count = rng.randint(3, 6)
    for _ in range(count):
        amount = world.lognormal(40_000, 0.6)
        if rng.random() < 0.5:
            world.emit(at, _party(world), sleeper.id, amount, "transfer", "dormant_then_active")
        else:
            world.emit(at, sleeper.id, _party(world), amount, "transfer", "dormant_then_active")
        at += timedelta(hours=rng.uniform(0.5, 8))
    return count


def _many_to_one(world: _World) -> int:
    rng = world.rng
    collector, at = world.account(), _when(world, 14)
    payers = rng.randint(5, 15)
    each = world.lognormal(8_000, 0.5)
    days = rng.uniform(3, 20)
    for _ in range(payers):
        amount = round(each * rng.uniform(0.97, 1.03))
        world.emit(
            at + timedelta(days=days * rng.random()),
            _party(world),
            collector,
            amount,
            "transfer",
            "many_to_one",
        )
    return payers


def _high_frequency_small(world: _World) -> int:
    rng = world.rng
    payer, at = _party(world, 0.5), _when(world)
    count = rng.randint(11, 40)
    minutes = rng.uniform(10, 60)
    shops = _some(rng, world.merchants, rng.randint(1, 3))
    for _ in range(count):
        amount = rng.randint(10, 199) * YUAN + rng.randrange(YUAN)
        world.emit(
            at + timedelta(minutes=minutes * rng.random()),
            payer,
            rng.choice(shops).id,
            amount,
            "payment",
            "high_frequency_small",
        )
    return count


def _location(world: _World) -> int:
    rng = world.rng
    located = [c for c in world.customers if c.located and c.trip is None]
    customer, at = rng.choice(located), _when(world)
    merchant = world.merchants[rng.choice(customer.favourites)]
    world.emit(
        at,
        customer.id,
        merchant.id,
        world.lognormal(60, 0.6),
        "payment",
        where=world.near(customer.city),
    )
    _, a, b = CITIES[customer.city]
    far = [i for i, (_, c, d) in enumerate(CITIES) if _km(a, b, c, d) > 1_000]
    city = rng.choice(far)
    count = rng.randint(1, 3)
    later = at
    for _ in range(count):
        later += timedelta(minutes=rng.uniform(3, 25))
        shop = rng.choice(world.merchants)
        world.emit(
            later,
            customer.id,
            shop.id,
            world.lognormal(900, 0.8),
            "payment",
            "location_anomaly",
            world.near(city),
        )
    return count


INJECTORS: dict[str, Callable[[_World], int]] = {
    "fan_out": _fan_out,
    "fan_in": _fan_in,
    "cycle": _cycle,
    "scatter_gather": _scatter_gather,
    "gather_scatter": _gather_scatter,
    "rapid_in_out": _rapid,
    "dormant_then_active": _dormant,
    "many_to_one": _many_to_one,
    "high_frequency_small": _high_frequency_small,
    "location_anomaly": _location,
}
assert set(INJECTORS) == set(TYPOLOGIES)


def generate(
    seed: int,
    size: int = 200_000,
    *,
    laundering_share: float = 0.015,
    days: int = 56,
    warmup_days: int = 35,
) -> GeneratedSet:
    """About `size` transactions in the scored period (`days` long, after `warmup_days`
    of ordinary traffic), `laundering_share` of them injected typologies in equal shares of
    transactions per typology. The same seed gives the same set."""
    if size < 100:
        raise ValueError("size must be at least 100")
    scored_days = days
    # Ordinary traffic for the whole time, sized so the scored period holds `size`.
    world = _World(seed, round(size * (1 - laundering_share)), scored_days, warmup_days)
    _payments(world)
    _payroll_and_rent(world)
    _transfers(world)
    _resellers(world)
    _sleepers(world)
    budget = size * laundering_share / len(INJECTORS)
    instances: dict[str, int] = {}
    for name, inject in INJECTORS.items():
        made = 0
        instances[name] = 0
        while made < budget:
            added = inject(world)
            if not added:
                break
            made += added
            instances[name] += 1
    world.out.sort(key=lambda t: (t.tx.at, t.tx.id))
    kept = [t for t in world.out if world.start <= t.tx.at < world.end]
    return GeneratedSet(seed, kept, world.scored_from, instances)
