"""`ecom generate live`: realistic OLTP traffic on the running source database.

Every business action is one SQL statement run in autocommit mode, i.e. one
transaction. The loop paces itself to ``rate`` row changes per second, checks the
stop flag between transactions (so SIGINT/SIGTERM end it after the current one)
and returns a :class:`LiveSummary`. The core never prints: it reports through the
``on_report`` callback.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extensions

from generator import actions as a
from generator import db
from generator.configuration import LiveConfig
from generator.exceptions import SourceUnavailableError
from generator.pools import (
    BAD_STATUSES,
    BAD_TRANSACTION_TYPES,
    CATEGORIES,
    CATEGORY_NOUNS,
    CHANNEL_WEIGHTS,
    CHANNELS,
    SEGMENTS,
    TIERS,
    Pools,
    build_pools,
)
from generator.state import IdBlock, LiveState, load_state

log = logging.getLogger(__name__)

#: Relative frequency of each business action.
ACTION_WEIGHTS: dict[str, float] = {
    "new_order": 18,
    "advance_status": 44,
    "cancel_order": 1.5,
    "delete_abandoned": 1.5,
    "edit_order": 8,
    "change_price": 5,
    "restock": 4,
    "adjust_stock": 2,
    "update_customer": 5,
    "new_customer": 4,
    "new_product": 1,
    "new_campaign": 1,
    "delete_campaign": 1,
}
NEXT_STAGE = {"Pending": "Processing", "Processing": "Shipped", "Shipped": "Delivered"}
BOOTSTRAP_CUSTOMERS = 50
BOOTSTRAP_PRODUCTS = 100
#: Times an action the server rolled back to break a deadlock between sessions is run
#: again before it counts as rejected.
DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class LiveReport:
    """A periodic progress snapshot."""

    elapsed: float
    total_rows: int
    interval_rate: float
    overall_rate: float
    transactions: int
    errors: int


@dataclass
class LiveSummary:
    """What a run did: row changes per "table.kind", actions, errors."""

    elapsed: float = 0.0
    changes: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    errors: int = 0
    #: actions run again after the server chose them as a deadlock's victim
    retries: int = 0
    stopped_by: str = "signal"

    @property
    def total_rows(self) -> int:
        return sum(self.changes.values())

    @property
    def rate(self) -> float:
        return self.total_rows / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "elapsed_s": round(self.elapsed, 3),
            "total_rows": self.total_rows,
            "rate_rows_per_s": round(self.rate, 1),
            "transactions": self.transactions,
            "errors": self.errors,
            "deadlock_retries": self.retries,
            "stopped_by": self.stopped_by,
            "changes": dict(sorted(self.changes.items())),
            "actions": dict(sorted(self.actions.items())),
        }


def _noop(_: LiveReport) -> None:
    return None


class LiveGenerator:
    """Chooses actions, runs them, keeps the in-memory view and the counters."""

    def __init__(
        self,
        conn: psycopg2.extensions.connection,
        config: LiveConfig,
        pools: Pools,
        state: LiveState,
        seed: int,
    ) -> None:
        self.conn = conn
        self.config = config
        self.pools = pools
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.token = f"{seed:x}{int(time.time()) % 100000:05d}"
        self.email_seq = 0
        self.state = state
        self.ids = {
            "customers": IdBlock(conn, "customers", "customer_id"),
            "products": IdBlock(conn, "products", "product_id"),
            "orders": IdBlock(conn, "orders", "order_id"),
            "campaigns": IdBlock(conn, "marketing_campaigns", "campaign_id"),
        }
        self.summary = LiveSummary()
        names = list(ACTION_WEIGHTS)
        self._names = names
        self._cum = np.cumsum([ACTION_WEIGHTS[n] for n in names]).tolist()
        # statement text -> (prepared statement's EXECUTE, its parameters in order)
        self._prepared: dict[str, tuple[str, tuple[str, ...]]] = {}

    # ------------------------------------------------------------ helpers
    def dirty(self) -> bool:
        return self.config.dirty_rate > 0 and self.rnd.random() < self.config.dirty_rate

    def spaced(self, value: str) -> str:
        return self.rnd.choice((" ", "", "  ")) + value + self.rnd.choice((" ", "  "))

    def noisy(self, value: str) -> str:
        """Whitespace noise at the dirty rate (normalised away by silver)."""
        return self.spaced(value) if self.dirty() else value

    def pick(self, seq: Sequence[str] | np.ndarray) -> str:
        return str(seq[self.rnd.randrange(len(seq))])

    def _execute(self, cur: psycopg2.extensions.cursor, stmt: a.Statement) -> None:
        """Run ``stmt`` as a prepared statement of this session (prepared on first use)."""
        known = self._prepared.get(stmt.sql)
        if known is None:
            text, names = a.positional(stmt.sql)
            name = f"ecom_live_{len(self._prepared)}"
            types = ", ".join(a.PARAM_TYPES[n] for n in names)
            cur.execute(f"PREPARE {name} ({types}) AS {text}")
            marks = ", ".join(["%s"] * len(names))
            known = self._prepared[stmt.sql] = (f"EXECUTE {name} ({marks})", names)
        execute, names = known
        cur.execute(execute, [stmt.params[n] for n in names])

    def _fetch(self, stmt: a.Statement) -> Any:
        """Execute ``stmt`` and return its row; a deadlock between sessions (the server
        rolled this transaction back) runs it again, as an application would."""
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                with self.conn.cursor() as cur:
                    self._execute(cur, stmt)
                    return cur.fetchone()
            except psycopg2.extensions.TransactionRollbackError:
                if attempt == DEADLOCK_RETRIES:
                    raise
                self.summary.retries += 1
        return None

    def run(self, stmt: a.Statement) -> int:
        """Execute one action (one transaction); count its rows; 0 on a rejected action."""
        try:
            row = self._fetch(stmt)
        except psycopg2.extensions.TransactionRollbackError as exc:
            self.summary.errors += 1
            log.warning("action %s rejected: %s", stmt.action, str(exc).strip().splitlines()[0])
            return 0
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"lost the source database during {stmt.action}: {str(exc).strip()[:200]}",
                hint="check the stack with `ecom stack status`",
            ) from None
        except psycopg2.Error as exc:  # e.g. a concurrent writer broke a precondition
            self.summary.errors += 1
            log.warning("action %s rejected: %s", stmt.action, str(exc).strip().splitlines()[0])
            return 0
        self.summary.transactions += 1
        self.summary.actions[stmt.action] += 1
        rows = 0
        for key, n in zip(stmt.keys, row or (), strict=False):
            if n:
                self.summary.changes[key] += int(n)
                rows += int(n)
        return rows

    # ------------------------------------------------------------ actions
    def new_customer(self) -> int:
        cid = self.ids["customers"].next()
        first = self.pick(self.pools.first_names)
        last = self.pick(self.pools.last_names)
        domain = self.pick(self.pools.email_domains)
        email = f"{first}.{last}{cid}@{domain}".lower()
        if self.dirty():
            email = email.upper()
        stmt = a.new_customer(
            cid, self.noisy(email), self.noisy(first), self.noisy(last), "New", "None"
        )
        rows = self.run(stmt)
        if rows:
            self.state.customers.append(cid)
        return rows

    def new_product(self) -> int:
        pid = self.ids["products"].next()
        k = self.rnd.randrange(len(CATEGORIES))
        category, _, median = CATEGORIES[k]
        name = (
            f"{self.pick(self.pools.brands)} {self.pick(self.pools.adjectives)} "
            f"{self.pick(CATEGORY_NOUNS[category])}"
        )
        sku = f"{category.replace('&', '').replace(' ', '')[:3].upper()}-{pid:07d}"
        if self.dirty():
            sku = sku.lower()
        price = max(99, int(round(median * self.rnd.lognormvariate(0, 0.5) / 100)) * 100 - 1)
        stock = self.rnd.randrange(50, 400)
        bad = self.dirty()
        in_type = self.pick(BAD_TRANSACTION_TYPES) if bad else self.noisy("IN")
        stmt = a.new_product(
            pid, name, self.noisy(sku), self.noisy(category), price, 0 if bad else stock, in_type
        )
        rows = self.run(stmt)
        if rows:
            self.state.add_product(
                pid, 0 if bad else stock, weight=1.0 / (len(self.state.products) + 1)
            )
        return rows

    def new_order(self) -> int:
        st = self.state
        if not st.customers or not st.products:
            return self.new_customer() if not st.customers else self.new_product()
        oid = self.ids["orders"].next()
        cid = st.customers[self.rnd.randrange(len(st.customers))]
        k = min(1 + int(self.rng.poisson(2.0)), 8)
        pids = st.pick_products(self.rng, k)
        qtys = [min(int(self.rng.geometric(0.62)), 8) for _ in pids]
        qtys = [self.rnd.choice((0, -1)) if self.dirty() else q for q in qtys]
        signs = [-1 if self.dirty() else 1 for _ in pids]
        campaign = None
        if self.rnd.random() < 1 / 3:
            active = st.active_campaigns(dt.datetime.now(dt.UTC).date())
            if active:
                campaign = active[self.rnd.randrange(len(active))]
        bad_type = self.dirty()
        out_type = self.pick(BAD_TRANSACTION_TYPES) if bad_type else self.noisy("OUT")
        stmt = a.new_order(oid, cid, campaign, pids, qtys, signs, out_type, not bad_type)
        rows = self.run(stmt)
        if rows:
            st.open["Pending"].add((oid, "Pending"))
            if campaign is not None:
                st.unused_campaigns.discard(campaign)
            if not bad_type:
                for p, q in zip(pids, qtys, strict=True):
                    st.stock[p] = st.stock.get(p, 0) - max(q, 0)
        return rows

    def _stored_status(self, status: str) -> str:
        if self.dirty():
            return self.pick(BAD_STATUSES)
        return self.noisy(status)

    def advance_status(self) -> int:
        bags = self.state.open
        sizes = [len(bags[s]) for s in NEXT_STAGE]
        total = sum(sizes)
        if not total:
            return self.new_order()
        r = self.rnd.randrange(total)
        stage = (
            "Pending" if r < sizes[0] else "Processing" if r < sizes[0] + sizes[1] else "Shipped"
        )
        oid, stored = bags[stage].pop_random(self.rnd)
        nxt = NEXT_STAGE[stage]
        new = self._stored_status(nxt)
        rows = self.run(a.set_status(oid, stored, new, restock=False))
        if rows and nxt != "Delivered":
            bags[nxt].add((oid, new))
        elif rows and new.strip() != "Delivered":
            bags["Shipped"].add((oid, new))  # a dirty "delivered": fix it later
        return rows

    def _pick_open(self, stages: tuple[str, ...]) -> tuple[str, int, str] | None:
        bags = [(s, self.state.open[s]) for s in stages if len(self.state.open[s])]
        if not bags:
            return None
        stage, bag = bags[self.rnd.randrange(len(bags))]
        oid, stored = bag.pop_random(self.rnd)
        return stage, oid, stored

    def cancel_order(self) -> int:
        picked = self._pick_open(("Pending", "Processing"))
        if picked is None:
            return self.new_order()
        _, oid, stored = picked
        return self.run(a.set_status(oid, stored, self.noisy("Cancelled"), restock=True))

    def delete_abandoned(self) -> int:
        picked = self._pick_open(("Pending",))
        if picked is None:
            return self.new_order()
        _, oid, stored = picked
        return self.run(a.delete_abandoned(oid, stored))

    def edit_order(self) -> int:
        picked = self._pick_open(("Pending", "Processing"))
        if picked is None:
            return self.new_order()
        stage, oid, stored = picked
        self.state.open[stage].add((oid, stored))
        kind = self.rnd.random()
        if kind < 0.4 and self.state.products:
            pid = self.state.pick_products(self.rng, 1)[0]
            q = self.rnd.choice((0, -1)) if self.dirty() else int(self.rng.geometric(0.62))
            stmt = a.edit_add_item(oid, pid, min(q, 8), -1 if self.dirty() else 1)
        elif kind < 0.75:
            stmt = a.edit_remove_item(oid)
        else:
            q = self.rnd.choice((0, -1)) if self.dirty() else self.rnd.randrange(1, 6)
            stmt = a.edit_quantity(oid, q)
        return self.run(stmt)

    def change_price(self) -> int:
        if not self.state.products:
            return self.new_product()
        pid = self.state.products[self.rnd.randrange(len(self.state.products))]
        factor = self.rnd.choice((0.85, 0.9, 0.95, 1.05, 1.1, 1.2))
        return self.run(a.change_price(pid, factor))

    def _stock_move(self, tx_type: str, quantity: int, pid: int) -> int:
        bad = self.dirty()
        stored = self.pick(BAD_TRANSACTION_TYPES) if bad else self.noisy(tx_type)
        delta = 0 if bad else quantity
        rows = self.run(a.stock_move(pid, stored, quantity, delta))
        if rows:
            self.state.stock[pid] = max(self.state.stock.get(pid, 0) + delta, 0)
        return rows

    def restock(self) -> int:
        if not self.state.products:
            return self.new_product()
        pid = self.state.low_stock_product(self.rnd)
        return self._stock_move("IN", self.rnd.randrange(50, 300), pid)

    def adjust_stock(self) -> int:
        if not self.state.products:
            return self.new_product()
        pid = self.state.products[self.rnd.randrange(len(self.state.products))]
        q = self.rnd.choice((-3, -2, -1, 1, 2, 5))
        q = max(q, -self.state.stock.get(pid, 0)) or 1
        return self._stock_move("ADJUSTMENT", q, pid)

    def update_customer(self) -> int:
        if not self.state.customers:
            return self.new_customer()
        cid = self.state.customers[self.rnd.randrange(len(self.state.customers))]
        kind = self.rnd.random()
        if kind < 0.45:
            return self.run(a.update_customer(cid, "loyalty_tier", self.pick(TIERS), "change_tier"))
        if kind < 0.85:
            seg = self.pick(SEGMENTS[:2])
            return self.run(a.update_customer(cid, "customer_segment", seg, "change_segment"))
        self.email_seq += 1
        email = (
            f"{self.pick(self.pools.first_names)}.{self.pick(self.pools.last_names)}"
            f".{cid}.{self.token}{self.email_seq}@{self.pick(self.pools.email_domains)}"
        ).lower()
        if self.dirty():
            email = email.upper()
        return self.run(a.update_customer(cid, "email", self.noisy(email), "change_email"))

    def new_campaign(self) -> int:
        mid = self.ids["campaigns"].next()
        k = int(self.rng.choice(len(CHANNELS), p=np.array(CHANNEL_WEIGHTS)))
        start = self.rnd.randrange(-3, 15)
        length = self.rnd.choice((7, 14, 21, 30))
        budget = int(round(self.rnd.lognormvariate(8.5, 1.0))) * 100
        if self.dirty():
            budget = -budget
        name = f"{self.pick(self.pools.campaign_words)} Live Promo #{mid}"
        stmt = a.new_campaign(
            mid, name, self.noisy(CHANNELS[k]), budget, self.rnd.randrange(-50, 400), start, length
        )
        rows = self.run(stmt)
        if rows:
            today = dt.datetime.now(dt.UTC).date()
            first = today + dt.timedelta(days=start)
            self.state.add_campaign(mid, first, first + dt.timedelta(days=length - 1))
        return rows

    def delete_campaign(self) -> int:
        unused = self.state.unused_campaigns
        if not unused:
            return self.new_campaign()
        mid = min(unused) if self.rnd.random() < 0.5 else max(unused)
        rows = self.run(a.delete_unused_campaign(mid))
        self.state.remove_campaign(mid)
        return rows

    # ------------------------------------------------------------ loop
    def bootstrap(self, stop: threading.Event) -> None:
        """An empty database gets customers and products before any order."""
        while len(self.state.products) < BOOTSTRAP_PRODUCTS // 10 and not stop.is_set():
            for _ in range(BOOTSTRAP_PRODUCTS):
                self.new_product()
        while len(self.state.customers) < BOOTSTRAP_CUSTOMERS // 10 and not stop.is_set():
            for _ in range(BOOTSTRAP_CUSTOMERS):
                self.new_customer()

    def step(self) -> int:
        r = self.rnd.random() * self._cum[-1]
        for name, bound in zip(self._names, self._cum, strict=True):
            if r < bound:
                result: int = getattr(self, name)()
                return result
        return 0


@dataclass
class _Session:
    """One connection's generator, paced at its share of the rate, in its own thread."""

    gen: LiveGenerator
    rate: float
    error: BaseException | None = None

    def loop(self, stop: threading.Event, deadline: float | None) -> None:
        summary = self.gen.summary
        paced_from, paced_rows = time.monotonic(), summary.total_rows
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.gen.step()
                now = time.monotonic()
                ahead = (summary.total_rows - paced_rows) / self.rate - (now - paced_from)
                if ahead > 0:
                    if deadline is not None:
                        ahead = min(ahead, max(0.0, deadline - now))
                    stop.wait(ahead)
                elif ahead < -1.0:  # too far behind: do not burst to catch up
                    paced_from, paced_rows = now, summary.total_rows
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
            stop.set()


def _merged(sessions: list[_Session]) -> LiveSummary:
    out = LiveSummary()
    for s in sessions:
        out.changes.update(s.gen.summary.changes)
        out.actions.update(s.gen.summary.actions)
        out.transactions += s.gen.summary.transactions
        out.errors += s.gen.summary.errors
        out.retries += s.gen.summary.retries
    return out


def _open(dsn: str, config: LiveConfig) -> list[psycopg2.extensions.connection]:
    conns: list[psycopg2.extensions.connection] = []
    try:
        for _ in range(config.connections):
            conn = db.connect(dsn, application_name="ecom-generate-live")
            conns.append(conn)
            if not conns[1:]:
                db.check_schema(conn)
            conn.autocommit = True
            if not config.synchronous_commit:
                with conn.cursor() as cur:
                    cur.execute("SET synchronous_commit = off")
    except BaseException:
        for conn in conns:
            conn.close()
        raise
    return conns


def _sessions(conns: list[psycopg2.extensions.connection], config: LiveConfig) -> list[_Session]:
    """One generator per connection, each with its share of the state and of the rate."""
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
    pools = build_pools(config.seed if config.seed is not None else 0)
    state = load_state(conns[0], np.random.default_rng(seed))
    n = len(conns)
    return [
        _Session(LiveGenerator(conn, config, pools, state.share(k, n), seed + k), config.rate / n)
        for k, conn in enumerate(conns)
    ]


def run(
    dsn: str,
    config: LiveConfig,
    *,
    stop: threading.Event | None = None,
    on_report: Callable[[LiveReport], None] = _noop,
) -> LiveSummary:
    """Apply live traffic until ``stop`` is set or ``config.duration`` has passed.

    ``config.connections`` sessions run side by side, like the shop's many clients: each
    is a thread with its own connection, its own share of the open orders and of the
    rate; every business action is still one transaction.
    """
    stop = stop or threading.Event()
    conns = _open(dsn, config)
    try:
        sessions = _sessions(conns, config)
        start = time.monotonic()
        sessions[0].gen.bootstrap(stop)  # an empty database: customers and products first
        summary = _drive(sessions, config, stop, start, on_report)
        summary.elapsed = time.monotonic() - start
        return summary
    finally:
        for conn in conns:
            conn.close()


def _drive(
    sessions: list[_Session],
    config: LiveConfig,
    stop: threading.Event,
    start: float,
    on_report: Callable[[LiveReport], None],
) -> LiveSummary:
    """Run the sessions' threads until stopped; report every ``config.report_every``."""
    deadline = start + config.duration if config.duration is not None else None
    halt = threading.Event()  # the sessions' own stop: set by ``stop``, the deadline or an error
    threads = [
        threading.Thread(target=s.loop, args=(halt, deadline), name=f"live-{k}", daemon=True)
        for k, s in enumerate(sessions)
    ]
    for t in threads:
        t.start()
    last_report, last_rows = time.monotonic(), _merged(sessions).total_rows
    while any(t.is_alive() for t in threads):
        if stop.wait(min(config.report_every, 0.2)):
            halt.set()
        now = time.monotonic()
        if now - last_report >= config.report_every:
            merged = _merged(sessions)
            on_report(LiveReport(
                elapsed=now - start, total_rows=merged.total_rows,
                interval_rate=(merged.total_rows - last_rows) / (now - last_report),
                overall_rate=merged.total_rows / (now - start),
                transactions=merged.transactions, errors=merged.errors,
            ))  # fmt: skip
            last_report, last_rows = now, merged.total_rows
        for t in threads:
            t.join(0)
    for s in sessions:
        if s.error is not None:
            raise s.error
    summary = _merged(sessions)
    summary.stopped_by = "signal" if stop.is_set() else "duration"
    return summary
