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


def build(config: SeedConfig, pools: Pools | None = None) -> SeedData:
    """Generate every table for ``config`` (no database access)."""
    counts = config.counts
    pools = pools or build_pools(config.seed)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    rng_c, rng_p, rng_m, rng_o, rng_i, rng_t = streams
    rate = config.dirty_rate
    anchor = np.datetime64(config.anchor.replace(microsecond=0), "s")
    window_start = (anchor - np.timedelta64(WINDOW_DAYS, "D")).astype("datetime64[D]")

    # ---------------------------------------------------------------- customers
    n_c = counts["customers"]
    reg_first = (anchor - np.timedelta64(REGISTRATION_DAYS, "D")).astype("datetime64[D]")
    growth = 1.0 + 2.0 * np.arange(REGISTRATION_DAYS) / REGISTRATION_DAYS
    reg = np.sort(d.sample_timestamps(rng_c, n_c, reg_first, growth / growth.sum()))
    reg[0] = reg_first.astype("datetime64[s]")  # someone can always place the first order
    activity = rng_c.lognormal(0.0, 1.0, size=n_c)
    cum_activity = np.cumsum(activity)

    # ---------------------------------------------------------------- products
    n_p = counts["products"]
    cat_w = np.array([w for _, w, _ in CATEGORIES])
    cat = rng_p.choice(len(CATEGORIES), size=n_p, p=cat_w / cat_w.sum())
    median = np.array([m for _, _, m in CATEGORIES])[cat]
    price = np.maximum(np.round(median * rng_p.lognormal(0.0, 0.55, size=n_p) / 100) * 100 - 1, 99)
    price = price.astype(np.int64)
    pop = d.popularity(rng_p, n_p)

    # ---------------------------------------------------------------- campaigns
    n_m = counts["marketing_campaigns"]
    m_start = rng_m.integers(-60, WINDOW_DAYS + 30, size=n_m)
    m_end = m_start + rng_m.choice(CAMPAIGN_DURATIONS, size=n_m) - 1
    m_channel = rng_m.choice(len(CHANNELS), size=n_m, p=np.array(CHANNEL_WEIGHTS))

    # ---------------------------------------------------------------- orders
    n_o = counts["orders"]
    o_date = np.sort(
        d.sample_timestamps(rng_o, n_o, window_start, d.day_weights(window_start, WINDOW_DAYS))
    )
    eligible = np.searchsorted(reg, o_date, side="right")
    o_cust = d.weighted_prefix_choice(rng_o, cum_activity, np.maximum(eligible, 1))
    age_days = (anchor - o_date).astype(np.float64) / d.SECONDS_PER_DAY
    o_status = d.status_by_age(rng_o, age_days)
    o_day = (o_date - window_start.astype("datetime64[s]")).astype(np.int64) // d.SECONDS_PER_DAY
    o_campaign = d.active_choice(rng_o, o_day, m_start, m_end, WINDOW_DAYS, ATTRIBUTED_SHARE)
    lag_hours = np.select(
        [o_status == d.PENDING, o_status == d.PROCESSING, o_status == d.SHIPPED],
        [np.zeros(n_o), rng_o.uniform(1, 24, n_o), rng_o.uniform(24, 96, n_o)],
        rng_o.uniform(72, 240, n_o),
    )
    o_updated = o_date + (lag_hours * 3600).astype("timedelta64[s]")
    o_updated = np.minimum(o_updated, anchor - np.timedelta64(1, "s"))
    o_updated = np.maximum(o_updated, o_date)

    # ---------------------------------------------------------------- order items
    n_i = counts["order_items"]
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
    discounted = (o_campaign[i_order] >= 0) & (rng_i.random(n_i) < 0.5)
    factor[discounted] *= rng_i.uniform(0.8, 0.9, size=int(discounted.sum()))
    i_unit = np.maximum(np.round(price[i_prod] * factor), 1).astype(np.int64)
    bad_qty = d.dirty_mask(rng_i, n_i, rate)
    i_qty[bad_qty] = rng_i.choice(np.array([0, -1, -2]), size=int(bad_qty.sum()))
    bad_price = d.dirty_mask(rng_i, n_i, rate)
    i_unit[bad_price] = -i_unit[bad_price]
    o_total = np.bincount(i_order, weights=(i_qty * i_unit).astype(np.float64), minlength=n_o)
    o_total = np.rint(o_total).astype(np.int64)
    mismatch = rng_o.random(n_o) < LEGACY_MISMATCH_RATE
    o_total[mismatch] += rng_o.choice(np.array([499, 999, -100, 1]), size=int(mismatch.sum()))

    # ---------------------------------------------------------------- inventory
    n_t = counts["inventory_transactions"]
    n_init = min(n_p, n_t)
    n_r = n_t - n_init
    t_prod = np.concatenate([np.arange(n_init), rng_t.choice(n_p, size=n_r, p=pop)])
    t_type = np.concatenate(
        [np.zeros(n_init, np.int64), rng_t.choice(3, size=n_r, p=[0.35, 0.55, 0.10])]
    )
    init_date = window_start.astype("datetime64[s]") - rng_t.integers(
        86_400, 120 * 86_400, size=n_init
    ).astype("timedelta64[s]")
    later = d.sample_timestamps(rng_t, n_r, window_start, d.day_weights(window_start, WINDOW_DAYS))
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
    groups, first_idx = np.unique(t_prod[by_prod], return_index=True)
    fix = d.running_floor_fix(t_prod[by_prod], delta[by_prod], first_idx)
    # the first row of every product (its initial IN) absorbs the fix
    t_qty[by_prod[first_idx]] += fix
    delta[by_prod[first_idx]] += fix
    stock = np.bincount(t_prod, weights=delta.astype(np.float64), minlength=n_p).astype(np.int64)
    chrono = np.argsort(t_date, kind="stable")

    # ---------------------------------------------------------------- customers, derived
    orders_per_customer = np.bincount(o_cust, minlength=n_c)
    has_orders = orders_per_customer > 0
    tier = np.full(n_c, 3)
    if has_orders.any():
        q50, q80, q95 = np.quantile(orders_per_customer[has_orders], [0.5, 0.8, 0.95])
        tier[has_orders & (orders_per_customer >= q50)] = 2
        tier[has_orders & (orders_per_customer >= q80) & (orders_per_customer > q50)] = 1
        tier[has_orders & (orders_per_customer >= q95) & (orders_per_customer > q80)] = 0
    recent = (anchor - reg) < np.timedelta64(90, "D")
    premium = (tier == 0) | ((tier == 1) & (rng_c.random(n_c) < 0.3))
    segment = np.where(recent, 2, np.where(premium, 0, 1))
    touched = rng_c.random(n_c) < 0.35
    c_updated = reg + np.where(
        touched, (rng_c.random(n_c) * (anchor - reg).astype(np.int64)).astype(np.int64), 0
    ).astype("timedelta64[s]")

    first = pa.array(pools.first_names[rng_c.integers(0, len(pools.first_names), n_c)], pa.string())
    last = pa.array(pools.last_names[rng_c.integers(0, len(pools.last_names), n_c)], pa.string())
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
    email = pc.utf8_lower(_join(local, "@", pa.array(pools.email_domains[domain_idx], pa.string())))
    email = pc.if_else(pa.array(d.dirty_mask(rng_c, n_c, rate)), pc.utf8_upper(email), email)
    email = _spaces(rng_c, email, d.dirty_mask(rng_c, n_c, rate))
    first = _spaces(rng_c, first, d.dirty_mask(rng_c, n_c, rate))
    last = _spaces(rng_c, last, d.dirty_mask(rng_c, n_c, rate))
    customers = pa.table({
        "customer_id": pa.array(np.arange(1, n_c + 1, dtype=np.int64)),
        "email": email,
        "first_name": first,
        "last_name": last,
        "customer_segment": pa.array(np.array(SEGMENTS, dtype=object)[segment], pa.string()),
        "loyalty_tier": pa.array(np.array(TIERS, dtype=object)[tier], pa.string()),
        "registration_date": _ts(reg),
        "updated_at": _ts(c_updated),
    })  # fmt: skip

    # ---------------------------------------------------------------- products, strings
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
    name = pc.if_else(with_color, _join(base_name, " - ", _s(color)), base_name)
    codes = np.array([c.replace("&", "").replace(" ", "")[:3].upper() for c in cat_names], object)
    pids = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n_p + 1)), pa.string()), 7, "0")
    sku = _join(_s(codes[cat]), "-", pids)
    sku = pc.if_else(pa.array(d.dirty_mask(rng_p, n_p, rate)), pc.utf8_lower(sku), sku)
    sku = _spaces(rng_p, sku, d.dirty_mask(rng_p, n_p, rate))
    category = _spaces(rng_p, _s(cat_names[cat]), d.dirty_mask(rng_p, n_p, rate))
    p_updated = anchor - rng_p.integers(0, 365 * 86_400, n_p).astype("timedelta64[s]")
    products = pa.table({
        "product_id": pa.array(np.arange(1, n_p + 1, dtype=np.int64)),
        "product_name": name,
        "sku": sku,
        "category": category,
        "price": _cents(price),
        "stock_quantity": pa.array(stock),
        "updated_at": _ts(p_updated),
    })  # fmt: skip

    # ---------------------------------------------------------------- campaigns, strings
    m_first_day = window_start + m_start
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
        rng_m, _s(np.array(CHANNELS, dtype=object)[m_channel]), d.dirty_mask(rng_m, n_m, rate)
    )
    campaigns = pa.table({
        "campaign_id": pa.array(np.arange(1, n_m + 1, dtype=np.int64)),
        "campaign_name": m_name,
        "channel": channel,
        "budget": _cents(budget),
        "roi": _cents(roi),
        "start_date": pa.array(m_first_day.astype("datetime64[D]")),
        "end_date": pa.array((window_start + m_end).astype("datetime64[D]")),
    })  # fmt: skip

    # ---------------------------------------------------------------- orders, strings
    status = _s(np.array(ORDER_STATUSES, dtype=object)[o_status])
    bad_status = d.dirty_mask(rng_o, n_o, rate)
    bad_values = np.array(BAD_STATUSES, dtype=object)[rng_o.integers(0, len(BAD_STATUSES), n_o)]
    status = pc.if_else(pa.array(bad_status), _s(bad_values), status)
    status = _spaces(rng_o, status, d.dirty_mask(rng_o, n_o, rate, exclude=bad_status))
    orders = pa.table({
        "order_id": pa.array(np.arange(1, n_o + 1, dtype=np.int64)),
        "customer_id": pa.array(o_cust + 1),
        "order_date": _ts(o_date),
        "order_status": status,
        "total_amount": _cents(o_total),
        "campaign_id": pa.array(np.where(o_campaign >= 0, o_campaign + 1, 0), mask=o_campaign < 0),
        "updated_at": _ts(o_updated),
    })  # fmt: skip
    items = pa.table({
        "order_item_id": pa.array(np.arange(1, n_i + 1, dtype=np.int64)),
        "order_id": pa.array(i_order + 1),
        "product_id": pa.array(i_prod + 1),
        "quantity": pa.array(i_qty),
        "unit_price": _cents(i_unit),
    })  # fmt: skip

    # ---------------------------------------------------------------- inventory, strings
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
    del groups
    return SeedData(
        tables={
            "customers": customers,
            "products": products,
            "marketing_campaigns": campaigns,
            "orders": orders,
            "order_items": items,
            "inventory_transactions": inventory,
        },
        legacy_mismatch_orders=int(mismatch.sum()),
    )


def anchor_from_date(day: dt.date) -> dt.datetime:
    """The anchor datetime (00:00 UTC, naive) of a calendar day."""
    return dt.datetime.combine(day, dt.time())
