"""In-memory view of the source that the live generator acts on.

Loaded once at start (works on a seeded database and on an empty one), then kept
up to date by the generator's own actions. It is a best-effort view: every SQL
statement re-checks its preconditions, so drift caused by other writers only
makes an action touch fewer rows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import numpy as np
import psycopg2.extensions

OPEN_STAGES = ("Pending", "Processing", "Shipped")


class IdBlock:
    """Ids reserved from a table's SERIAL sequence, a block at a time."""

    def __init__(self, conn: psycopg2.extensions.connection, table: str, pk: str, block: int = 256):
        self._conn = conn
        self._sql = (
            f"SELECT nextval(pg_get_serial_sequence('public.{table}', '{pk}')) "
            f"FROM generate_series(1, {block})"
        )
        self._ids: list[int] = []

    def next(self) -> int:
        if not self._ids:
            with self._conn.cursor() as cur:
                cur.execute(self._sql)
                self._ids = [row[0] for row in cur.fetchall()][::-1]
        return self._ids.pop()


class Bag:
    """A list with O(1) random pick and removal (order is not kept)."""

    def __init__(self, items: list[tuple[int, str]] | None = None) -> None:
        self.items: list[tuple[int, str]] = list(items or [])

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: tuple[int, str]) -> None:
        self.items.append(item)

    def pop_random(self, rnd: random.Random) -> tuple[int, str]:
        i = rnd.randrange(len(self.items))
        self.items[i], self.items[-1] = self.items[-1], self.items[i]
        return self.items.pop()


@dataclass
class LiveState:
    customers: list[int] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    stock: dict[int, int] = field(default_factory=dict)
    weights: list[float] = field(default_factory=list)
    campaigns: dict[int, tuple[dt.date, dt.date]] = field(default_factory=dict)
    unused_campaigns: set[int] = field(default_factory=set)
    #: Open orders per stage: (order_id, status value as stored, maybe dirty).
    open: dict[str, Bag] = field(default_factory=lambda: {s: Bag() for s in OPEN_STAGES})
    _picks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _pick_pos: int = 0
    _active: list[int] = field(default_factory=list)
    _active_day: dt.date | None = None

    # ------------------------------------------------------------ products
    def add_product(self, product_id: int, stock: int, weight: float) -> None:
        self.products.append(product_id)
        self.stock[product_id] = stock
        self.weights.append(weight)
        self._picks = np.empty(0, dtype=np.int64)  # resample with the new product

    def pick_products(self, rng: np.random.Generator, k: int) -> list[int]:
        """``k`` distinct products, popularity-weighted (Zipf-like)."""
        k = min(k, len(self.products))
        chosen: list[int] = []
        tries = 0
        while len(chosen) < k and tries < 8 * k:
            if self._pick_pos >= len(self._picks):
                w = np.asarray(self.weights, dtype=np.float64)
                self._picks = rng.choice(len(w), size=4096, p=w / w.sum())
                self._pick_pos = 0
            pid = self.products[int(self._picks[self._pick_pos])]
            self._pick_pos += 1
            tries += 1
            if pid not in chosen:
                chosen.append(pid)
        return chosen

    def low_stock_product(self, rnd: random.Random, sample: int = 16) -> int:
        candidates = [self.products[rnd.randrange(len(self.products))] for _ in range(sample)]
        return min(candidates, key=lambda p: self.stock.get(p, 0))

    # ------------------------------------------------------------ campaigns
    def active_campaigns(self, today: dt.date) -> list[int]:
        if self._active_day != today:
            self._active = sorted(cid for cid, (s, e) in self.campaigns.items() if s <= today <= e)
            self._active_day = today
        return self._active

    def add_campaign(self, campaign_id: int, start: dt.date, end: dt.date) -> None:
        self.campaigns[campaign_id] = (start, end)
        self.unused_campaigns.add(campaign_id)
        self._active_day = None

    def remove_campaign(self, campaign_id: int) -> None:
        self.campaigns.pop(campaign_id, None)
        self.unused_campaigns.discard(campaign_id)
        self._active_day = None

    # ------------------------------------------------------------ sessions
    def share(self, k: int, n: int) -> LiveState:
        """The view of session ``k`` of ``n`` concurrent sessions.

        Customers, products and stock are one shared view (lists only grow; a stale stock
        figure only makes an action touch fewer rows). Open orders and campaigns are
        split by id, so no two sessions walk the same order through its lifecycle nor
        delete the same campaign, and no session iterates a collection that another
        one changes.
        """
        part = LiveState(
            customers=self.customers, products=self.products, stock=self.stock,
            weights=self.weights,
        )  # fmt: skip
        part.campaigns = {c: span for c, span in self.campaigns.items() if c % n == k}
        part.unused_campaigns = {c for c in self.unused_campaigns if c % n == k}
        for stage, bag in self.open.items():
            part.open[stage] = Bag([item for item in bag.items if item[0] % n == k])
        return part


def load_state(conn: psycopg2.extensions.connection, rng: np.random.Generator) -> LiveState:
    """Read the pools the generator needs from the source database."""
    state = LiveState()
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM public.customers ORDER BY customer_id")
        state.customers = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT product_id, COALESCE(stock_quantity, 0) FROM public.products "
            "ORDER BY product_id"
        )
        rows = cur.fetchall()
        state.products = [r[0] for r in rows]
        state.stock = {r[0]: r[1] for r in rows}
        if rows:
            from generator.distributions import popularity

            state.weights = popularity(rng, len(rows)).tolist()
        cur.execute(
            "SELECT c.campaign_id, c.start_date, c.end_date, "
            "NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.campaign_id = c.campaign_id) "
            "FROM public.marketing_campaigns c WHERE c.start_date IS NOT NULL "
            "AND c.end_date IS NOT NULL ORDER BY c.campaign_id"
        )
        for cid, start, end, unused in cur.fetchall():
            state.campaigns[cid] = (start, end)
            if unused:
                state.unused_campaigns.add(cid)
        cur.execute(
            "SELECT order_id, order_status, btrim(order_status) FROM public.orders "
            "WHERE btrim(order_status) IN ('Pending', 'Processing', 'Shipped') "
            "ORDER BY order_id DESC LIMIT 50000"
        )
        for oid, stored, stage in cur.fetchall():
            state.open[stage].add((oid, stored))
    conn.commit()
    return state
