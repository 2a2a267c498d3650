"""Build the six seed tables in memory as pyarrow Tables (vectorised, deterministic).

Each table draws from its own child of ``SeedSequence(seed)`` so that changing how
one table is sampled does not shift the others. Ids are explicit and dense
(1..n), in chronological order where the table has a date.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generator import distributions as d
from generator.configuration import SeedConfig
from generator.pools import (
    BAD_STATUSES,
    BAD_TRANSACTION_TYPES,
    CATEGORIES,
    CATEGORY_NOUNS,
    CHANNEL_WEIGHTS,
    CHANNELS,
    ORDER_STATUSES,
    SEGMENTS,
    TIERS,
    TRANSACTION_TYPES,
    Pools,
    build_pools,
)

log = logging.getLogger(__name__)

WINDOW_DAYS = 730  # orders over the last two years
REGISTRATION_DAYS = 1095  # customers registered over the last three years
ATTRIBUTED_SHARE = 1 / 3
LEGACY_MISMATCH_RATE = 0.005
CAMPAIGN_KINDS = ("Sale", "Launch", "Promo", "Flash Deal", "Newsletter", "Retargeting")
CAMPAIGN_DURATIONS = np.array([7, 14, 21, 30, 45, 60, 90])


@dataclass(frozen=True)
class SeedData:
    """The generated tables (DDL column order) plus a few facts for checks."""

    tables: dict[str, pa.Table]
    #: Orders whose total_amount deliberately differs from the sum of their items.
    legacy_mismatch_orders: int


def _s(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _spaces(rng: np.random.Generator, values: pa.Array, mask: np.ndarray) -> pa.Array:
    """Surround masked values with 1-2 spaces (leading, trailing or both)."""
    if not mask.any():
        return values
    n = len(values)
    lead = np.where(rng.random(n) < 0.6, " ", "")
    trail = np.where(rng.random(n) < 0.6, "  ", " ")
    noisy = _join(_s(lead), values, _s(trail))
    return pc.if_else(pa.array(mask), noisy, values)


def _cents(values: np.ndarray) -> pa.Array:
    """Integer cents as float64 units (exact: written with the shortest round-trip form)."""
    return pa.array(values.astype(np.float64) / 100.0)


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[s]"))


@dataclass(frozen=True)
class _Frame:
    """What every table is drawn against: the anchor, the order window, the dirty rate."""

    anchor: np.datetime64  # seconds
    window_start: np.datetime64  # days
    rate: float
    pools: Pools

    def window_timestamps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` timestamps (unsorted) over the order window, busy days weighted."""
        weights = d.day_weights(self.window_start, WINDOW_DAYS)
        return d.sample_timestamps(rng, n, self.window_start, weights)


@dataclass(frozen=True)
class _Campaigns:
    """Campaign days (relative to the window start, inclusive) and channels."""

    start: np.ndarray
    end: np.ndarray
    channel: np.ndarray


@dataclass(frozen=True)
class _Orders:
    """Order facts, 0-based customer and campaign indexes (-1: no campaign)."""

    date: np.ndarray
    customer: np.ndarray
    status: np.ndarray
    campaign: np.ndarray
    updated: np.ndarray


def build(config: SeedConfig, pools: Pools | None = None) -> SeedData:
    """Generate every table for ``config`` (no database access).

    Each helper draws only from its table's own stream, in a fixed order, so the output
    for a seed stays the same; the orders' stream is used by three helpers, called in
    this order.
    """
    counts = config.counts
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    rng_c, rng_p, rng_m, rng_o, rng_i, rng_t = streams
    anchor = np.datetime64(config.anchor.replace(microsecond=0), "s")
    frame = _Frame(
        anchor=anchor,
        window_start=(anchor - np.timedelta64(WINDOW_DAYS, "D")).astype("datetime64[D]"),
        rate=config.dirty_rate,
        pools=pools or build_pools(config.seed),
    )
    reg, cum_activity = _registrations(rng_c, counts["customers"], frame)
    cat, price, pop = _product_draws(rng_p, counts["products"])
    campaigns = _campaign_draws(rng_m, counts["marketing_campaigns"])
    orders = _order_draws(rng_o, counts["orders"], frame, reg, cum_activity, campaigns)
    items, totals = _order_items(rng_i, counts["order_items"], frame, orders, price, pop)
    mismatch = _legacy_mismatches(rng_o, totals)
    inventory, stock = _inventory(rng_t, counts["inventory_transactions"], frame, pop)
    return SeedData(
        tables={
            "customers": _customers(rng_c, frame, reg, orders.customer),
            "products": _products(rng_p, frame, cat, price, stock),
            "marketing_campaigns": _campaigns(rng_m, frame, campaigns),
            "orders": _orders(rng_o, frame, orders, totals),
            "order_items": items,
            "inventory_transactions": inventory,
        },
        legacy_mismatch_orders=int(mismatch.sum()),
    )


# ---------------------------------------------------------------- numbers
def _registrations(
    rng_c: np.random.Generator, n_c: int, frame: _Frame
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted registration times (more each day) and the cumulative activity weights."""
    anchor = frame.anchor
    reg_first = (anchor - np.timedelta64(REGISTRATION_DAYS, "D")).astype("datetime64[D]")
    growth = 1.0 + 2.0 * np.arange(REGISTRATION_DAYS) / REGISTRATION_DAYS
    reg = np.sort(d.sample_timestamps(rng_c, n_c, reg_first, growth / growth.sum()))
    reg[0] = reg_first.astype("datetime64[s]")  # someone can always place the first order
    activity = rng_c.lognormal(0.0, 1.0, size=n_c)
    return reg, np.cumsum(activity)


def _product_draws(
    rng_p: np.random.Generator, n_p: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category index, price in cents and popularity of every product."""
    cat_w = np.array([w for _, w, _ in CATEGORIES])
    cat = rng_p.choice(len(CATEGORIES), size=n_p, p=cat_w / cat_w.sum())
    median = np.array([m for _, _, m in CATEGORIES])[cat]
    price = np.maximum(np.round(median * rng_p.lognormal(0.0, 0.55, size=n_p) / 100) * 100 - 1, 99)
    price = price.astype(np.int64)
    return cat, price, d.popularity(rng_p, n_p)


def _campaign_draws(rng_m: np.random.Generator, n_m: int) -> _Campaigns:
    m_start = rng_m.integers(-60, WINDOW_DAYS + 30, size=n_m)
    m_end = m_start + rng_m.choice(CAMPAIGN_DURATIONS, size=n_m) - 1
    m_channel = rng_m.choice(len(CHANNELS), size=n_m, p=np.array(CHANNEL_WEIGHTS))
    return _Campaigns(m_start, m_end, m_channel)


def _order_draws(
    rng_o: np.random.Generator, n_o: int, frame: _Frame, reg: np.ndarray,
    cum_activity: np.ndarray, campaigns: _Campaigns,
) -> _Orders:  # fmt: skip
    """When, by whom (registered by then), in which state and under which campaign."""
    anchor, window_start = frame.anchor, frame.window_start
    o_date = np.sort(frame.window_timestamps(rng_o, n_o))
    eligible = np.searchsorted(reg, o_date, side="right")
    o_cust = d.weighted_prefix_choice(rng_o, cum_activity, np.maximum(eligible, 1))
    age_days = (anchor - o_date).astype(np.float64) / d.SECONDS_PER_DAY
    o_status = d.status_by_age(rng_o, age_days)
    o_day = (o_date - window_start.astype("datetime64[s]")).astype(np.int64) // d.SECONDS_PER_DAY
    o_campaign = d.active_choice(
        rng_o, o_day, campaigns.start, campaigns.end, WINDOW_DAYS, ATTRIBUTED_SHARE
    )
    lag_hours = np.select(
        [o_status == d.PENDING, o_status == d.PROCESSING, o_status == d.SHIPPED],
        [np.zeros(n_o), rng_o.uniform(1, 24, n_o), rng_o.uniform(24, 96, n_o)],
        rng_o.uniform(72, 240, n_o),
    )
    o_updated = o_date + (lag_hours * 3600).astype("timedelta64[s]")
    o_updated = np.minimum(o_updated, anchor - np.timedelta64(1, "s"))
    o_updated = np.maximum(o_updated, o_date)
    return _Orders(o_date, o_cust, o_status, o_campaign, o_updated)


def _order_items(
    rng_i: np.random.Generator, n_i: int, frame: _Frame, orders: _Orders,
    price: np.ndarray, pop: np.ndarray,
) -> tuple[pa.Table, np.ndarray]:  # fmt: skip
    """The order_items table and each order's total in cents (the sum of its items)."""
    n_o, n_p, rate = len(orders.date), len(price), frame.rate
    per_order = d.exact_counts(rng_i, n_o, n_i, extra_mean=n_i / n_o - 1)
    i_order = np.repeat(np.arange(n_o), per_order)
    i_prod = rng_i.choice(n_p, size=n_i, p=pop)
    if n_p > 1:  # one pass replacing duplicate products inside an order
        key = i_order * n_p + i_prod
        order = np.argsort(key, kind="stable")
        dup = np.zeros(n_i, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        i_prod[dup] = rng_i.integers(0, n_p, size=int(dup.sum()))
    i_qty = np.minimum(rng_i.geometric(0.62, size=n_i), 8).astype(np.int64)
    factor = np.ones(n_i)
    drift = rng_i.random(n_i) < 0.2
    factor[drift] = rng_i.normal(1.0, 0.04, size=int(drift.sum()))
    discounted = (orders.campaign[i_order] >= 0) & (rng_i.random(n_i) < 0.5)
    factor[discounted] *= rng_i.uniform(0.8, 0.9, size=int(discounted.sum()))
    i_unit = np.maximum(np.round(price[i_prod] * factor), 1).astype(np.int64)
    bad_qty = d.dirty_mask(rng_i, n_i, rate)
    i_qty[bad_qty] = rng_i.choice(np.array([0, -1, -2]), size=int(bad_qty.sum()))
    bad_price = d.dirty_mask(rng_i, n_i, rate)
    i_unit[bad_price] = -i_unit[bad_price]
    items = pa.table({
        "order_item_id": pa.array(np.arange(1, n_i + 1, dtype=np.int64)),
        "order_id": pa.array(i_order + 1),
        "product_id": pa.array(i_prod + 1),
        "quantity": pa.array(i_qty),
        "unit_price": _cents(i_unit),
    })  # fmt: skip
    o_total = np.bincount(i_order, weights=(i_qty * i_unit).astype(np.float64), minlength=n_o)
    return items, np.rint(o_total).astype(np.int64)


def _legacy_mismatches(rng_o: np.random.Generator, o_total: np.ndarray) -> np.ndarray:
    """Make a few order totals differ from the sum of their items, as the legacy system
    did (in place); returns which."""
    mismatch = rng_o.random(len(o_total)) < LEGACY_MISMATCH_RATE
    o_total[mismatch] += rng_o.choice(np.array([499, 999, -100, 1]), size=int(mismatch.sum()))
    return mismatch


def _inventory(
    rng_t: np.random.Generator, n_t: int, frame: _Frame, pop: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """The inventory_transactions table (chronological) and each product's final stock.

    Every product starts with one IN before the window; the running stock never goes
    below zero (the first IN absorbs what would)."""
    n_p, rate, window_start = len(pop), frame.rate, frame.window_start
    n_init = min(n_p, n_t)
    n_r = n_t - n_init
    t_prod = np.concatenate([np.arange(n_init), rng_t.choice(n_p, size=n_r, p=pop)])
    t_type = np.concatenate(
        [np.zeros(n_init, np.int64), rng_t.choice(3, size=n_r, p=[0.35, 0.55, 0.10])]
    )
    init_date = window_start.astype("datetime64[s]") - rng_t.integers(
        86_400, 120 * 86_400, size=n_init
    ).astype("timedelta64[s]")
    later = frame.window_timestamps(rng_t, n_r)
    t_date = np.concatenate([init_date, later])
    t_qty = np.select(
        [t_type == 0, t_type == 1],
        [rng_t.integers(20, 200, n_t), rng_t.integers(1, 25, n_t)],
        rng_t.choice(np.array([-5, -3, -2, -1, 1, 2, 4]), size=n_t),
    )
    t_qty[:n_init] = rng_t.integers(50, 500, n_init)
    bad_type = d.dirty_mask(rng_t, n_t, rate, exclude=np.arange(n_t) < n_init)
    delta = np.where(t_type == 1, -t_qty, t_qty)
    delta[bad_type] = 0
    by_prod = np.lexsort((t_date, t_prod))
    _, first_idx = np.unique(t_prod[by_prod], return_index=True)
    fix = d.running_floor_fix(t_prod[by_prod], delta[by_prod], first_idx)
    # the first row of every product (its initial IN) absorbs the fix
    t_qty[by_prod[first_idx]] += fix
    delta[by_prod[first_idx]] += fix
    stock = np.bincount(t_prod, weights=delta.astype(np.float64), minlength=n_p).astype(np.int64)
    chrono = np.argsort(t_date, kind="stable")

    ttype = _s(np.array(TRANSACTION_TYPES, dtype=object)[t_type])
    bad_t = np.array(BAD_TRANSACTION_TYPES, dtype=object)[
        rng_t.integers(0, len(BAD_TRANSACTION_TYPES), n_t)
    ]
    ttype = pc.if_else(pa.array(bad_type), _s(bad_t), ttype)
    ttype = _spaces(rng_t, ttype, d.dirty_mask(rng_t, n_t, rate, exclude=bad_type))
    inventory = pa.table({
        "transaction_id": pa.array(np.arange(1, n_t + 1, dtype=np.int64)),
        "product_id": pa.array(t_prod[chrono] + 1),
        "transaction_type": ttype.take(pa.array(chrono)),
        "quantity": pa.array(t_qty[chrono]),
        "transaction_date": _ts(t_date[chrono]),
    })  # fmt: skip
    return inventory, stock


# ---------------------------------------------------------------- tables
def _loyalty_tiers(orders_per_customer: np.ndarray) -> np.ndarray:
    """0 (best) to 3 (no orders), by the customer's quantile of orders placed."""
    has_orders = orders_per_customer > 0
    tier = np.full(len(orders_per_customer), 3)
    if has_orders.any():
        q50, q80, q95 = np.quantile(orders_per_customer[has_orders], [0.5, 0.8, 0.95])
        tier[has_orders & (orders_per_customer >= q50)] = 2
        tier[has_orders & (orders_per_customer >= q80) & (orders_per_customer > q50)] = 1
        tier[has_orders & (orders_per_customer >= q95) & (orders_per_customer > q80)] = 0
    return tier


def _emails(rng_c: np.random.Generator, pools: Pools, first: pa.Array, last: pa.Array) -> pa.Array:
    """first.last<id>, firstL<id>, Flast<id> or first_last<id> at a weighted domain."""
    n_c = len(first)
    ids = pc.cast(pa.array(np.arange(1, n_c + 1)), pa.string())
    fmt = rng_c.integers(0, 4, n_c)
    f_init, l_init = pc.utf8_slice_codeunits(first, 0, 1), pc.utf8_slice_codeunits(last, 0, 1)
    local = pc.case_when(
        pc.make_struct(*(pa.array(fmt == k) for k in range(3))),
        _join(first, ".", last, ids),
        _join(first, l_init, ids),
        _join(f_init, last, ids),
        _join(first, "_", last, ids),
    )
    domain_idx = rng_c.choice(len(pools.email_domains), n_c, p=pools.email_domain_weights)
    return pc.utf8_lower(_join(local, "@", pa.array(pools.email_domains[domain_idx], pa.string())))


def _customers(
    rng_c: np.random.Generator, frame: _Frame, reg: np.ndarray, o_cust: np.ndarray
) -> pa.Table:
    n_c, anchor, rate, pools = len(reg), frame.anchor, frame.rate, frame.pools
    tier = _loyalty_tiers(np.bincount(o_cust, minlength=n_c))
    recent = (anchor - reg) < np.timedelta64(90, "D")
    premium = (tier == 0) | ((tier == 1) & (rng_c.random(n_c) < 0.3))
    segment = np.where(recent, 2, np.where(premium, 0, 1))
    touched = rng_c.random(n_c) < 0.35
    c_updated = reg + np.where(
        touched, (rng_c.random(n_c) * (anchor - reg).astype(np.int64)).astype(np.int64), 0
    ).astype("timedelta64[s]")

    first = pa.array(pools.first_names[rng_c.integers(0, len(pools.first_names), n_c)], pa.string())
    last = pa.array(pools.last_names[rng_c.integers(0, len(pools.last_names), n_c)], pa.string())
    email = _emails(rng_c, pools, first, last)
    email = pc.if_else(pa.array(d.dirty_mask(rng_c, n_c, rate)), pc.utf8_upper(email), email)
    email = _spaces(rng_c, email, d.dirty_mask(rng_c, n_c, rate))
    first = _spaces(rng_c, first, d.dirty_mask(rng_c, n_c, rate))
    last = _spaces(rng_c, last, d.dirty_mask(rng_c, n_c, rate))
    return pa.table({
        "customer_id": pa.array(np.arange(1, n_c + 1, dtype=np.int64)),
        "email": email,
        "first_name": first,
        "last_name": last,
        "customer_segment": pa.array(np.array(SEGMENTS, dtype=object)[segment], pa.string()),
        "loyalty_tier": pa.array(np.array(TIERS, dtype=object)[tier], pa.string()),
        "registration_date": _ts(reg),
        "updated_at": _ts(c_updated),
    })  # fmt: skip


def _product_names(rng_p: np.random.Generator, pools: Pools, cat: np.ndarray) -> pa.Array:
    """ "<brand> <adjective> <noun of the category>", a colour on 40% of them."""
    n_p = len(cat)
    cat_names = np.array([c for c, _, _ in CATEGORIES], dtype=object)
    nouns = np.empty(n_p, dtype=object)
    for k, name in enumerate(cat_names):
        sel = np.flatnonzero(cat == k)
        options = np.array(CATEGORY_NOUNS[name], dtype=object)
        nouns[sel] = options[rng_p.integers(0, len(options), len(sel))]
    adj = pools.adjectives[rng_p.integers(0, len(pools.adjectives), n_p)]
    brand = pools.brands[rng_p.integers(0, len(pools.brands), n_p)]
    color = pools.colors[rng_p.integers(0, len(pools.colors), n_p)]
    with_color = pa.array(rng_p.random(n_p) < 0.4)
    base_name = _join(_s(brand), " ", _s(adj), " ", _s(nouns))
    return pc.if_else(with_color, _join(base_name, " - ", _s(color)), base_name)


def _products(
    rng_p: np.random.Generator, frame: _Frame, cat: np.ndarray, price: np.ndarray,
    stock: np.ndarray,
) -> pa.Table:  # fmt: skip
    n_p, rate = len(cat), frame.rate
    name = _product_names(rng_p, frame.pools, cat)
    cat_names = np.array([c for c, _, _ in CATEGORIES], dtype=object)
    codes = np.array([c.replace("&", "").replace(" ", "")[:3].upper() for c in cat_names], object)
    pids = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n_p + 1)), pa.string()), 7, "0")
    sku = _join(_s(codes[cat]), "-", pids)
    sku = pc.if_else(pa.array(d.dirty_mask(rng_p, n_p, rate)), pc.utf8_lower(sku), sku)
    sku = _spaces(rng_p, sku, d.dirty_mask(rng_p, n_p, rate))
    category = _spaces(rng_p, _s(cat_names[cat]), d.dirty_mask(rng_p, n_p, rate))
    p_updated = frame.anchor - rng_p.integers(0, 365 * 86_400, n_p).astype("timedelta64[s]")
    return pa.table({
        "product_id": pa.array(np.arange(1, n_p + 1, dtype=np.int64)),
        "product_name": name,
        "sku": sku,
        "category": category,
        "price": _cents(price),
        "stock_quantity": pa.array(stock),
        "updated_at": _ts(p_updated),
    })  # fmt: skip


def _campaigns(rng_m: np.random.Generator, frame: _Frame, campaigns: _Campaigns) -> pa.Table:
    n_m, rate, pools, window_start = (
        len(campaigns.start),
        frame.rate,
        frame.pools,
        frame.window_start,
    )
    m_first_day = window_start + campaigns.start
    year = m_first_day.astype("datetime64[Y]").astype(np.int64) + 1970
    m_name = _join(
        _s(pools.campaign_words[rng_m.integers(0, len(pools.campaign_words), n_m)]), " ",
        _s(np.array(CAMPAIGN_KINDS, dtype=object)[rng_m.integers(0, len(CAMPAIGN_KINDS), n_m)]),
        " ", pc.cast(pa.array(year), pa.string()), " #",
        pc.cast(pa.array(np.arange(1, n_m + 1)), pa.string()),
    )  # fmt: skip
    budget = (np.round(rng_m.lognormal(np.log(5000), 1.0, n_m)) * 100).astype(np.int64)
    budget[d.dirty_mask(rng_m, n_m, rate)] *= -1
    roi = np.round(rng_m.normal(150, 120, n_m)).astype(np.int64)
    channel = _spaces(
        rng_m, _s(np.array(CHANNELS, dtype=object)[campaigns.channel]),
        d.dirty_mask(rng_m, n_m, rate),
    )  # fmt: skip
    return pa.table({
        "campaign_id": pa.array(np.arange(1, n_m + 1, dtype=np.int64)),
        "campaign_name": m_name,
        "channel": channel,
        "budget": _cents(budget),
        "roi": _cents(roi),
        "start_date": pa.array(m_first_day.astype("datetime64[D]")),
        "end_date": pa.array((window_start + campaigns.end).astype("datetime64[D]")),
    })  # fmt: skip


def _orders(
    rng_o: np.random.Generator, frame: _Frame, orders: _Orders, o_total: np.ndarray
) -> pa.Table:
    n_o, rate, o_campaign = len(orders.date), frame.rate, orders.campaign
    status = _s(np.array(ORDER_STATUSES, dtype=object)[orders.status])
    bad_status = d.dirty_mask(rng_o, n_o, rate)
    bad_values = np.array(BAD_STATUSES, dtype=object)[rng_o.integers(0, len(BAD_STATUSES), n_o)]
    status = pc.if_else(pa.array(bad_status), _s(bad_values), status)
    status = _spaces(rng_o, status, d.dirty_mask(rng_o, n_o, rate, exclude=bad_status))
    return pa.table({
        "order_id": pa.array(np.arange(1, n_o + 1, dtype=np.int64)),
        "customer_id": pa.array(orders.customer + 1),
        "order_date": _ts(orders.date),
        "order_status": status,
        "total_amount": _cents(o_total),
        "campaign_id": pa.array(np.where(o_campaign >= 0, o_campaign + 1, 0), mask=o_campaign < 0),
        "updated_at": _ts(orders.updated),
    })  # fmt: skip


def anchor_from_date(day: dt.date) -> dt.datetime:
    """The anchor datetime (00:00 UTC, naive) of a calendar day."""
    return dt.datetime.combine(day, dt.time())
