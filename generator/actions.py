"""SQL of the live generator's business actions.

Each action is ONE statement (data-modifying CTEs), so in autocommit mode it is
one transaction and one round trip. Every statement ends with a SELECT of the
rows it touched, in the order of its ``keys`` ("table.kind"), so the generator
counts real row changes (cascade-deleted items included).

The generator runs each statement text as a server-side prepared statement
(:func:`positional`): parsing and planning these CTEs costs the server about as much
as running them, and the same dozen texts repeat all the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NOW = "timezone('UTC', now())"

#: The SQL type of every named parameter, for PREPARE (one name, one meaning).
PARAM_TYPES: dict[str, str] = {
    "id": "int", "cid": "int", "oid": "int", "pid": "int", "camp": "int",
    "email": "text", "first": "text", "last": "text", "segment": "text", "tier": "text",
    "name": "text", "sku": "text", "category": "text", "channel": "text", "v": "text",
    "price": "int", "stock": "int", "budget": "int", "roi": "int", "start": "int",
    "len": "int", "q": "int", "sign": "int", "delta": "int",
    "in_type": "text", "out_type": "text", "type": "text", "cur": "text", "new": "text",
    "pids": "int[]", "qtys": "int[]", "signs": "int[]", "ord": "int[]",
    "moves": "boolean", "f": "numeric",
}  # fmt: skip

_PARAM = re.compile(r"%\((\w+)\)s")


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its named parameters as ``$1, $2, ...`` (for PREPARE), and the names
    in that order."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    text = _PARAM.sub(number, sql)
    return text, tuple(names)


@dataclass(frozen=True)
class Statement:
    action: str
    sql: str
    params: dict[str, Any]
    keys: tuple[str, ...]


def new_customer(
    customer_id: int, email: str, first: str, last: str, segment: str, tier: str
) -> Statement:
    sql = f"""
WITH c AS (
  INSERT INTO public.customers (customer_id, email, first_name, last_name, customer_segment,
                                loyalty_tier, registration_date, updated_at)
  VALUES (%(id)s, %(email)s, %(first)s, %(last)s, %(segment)s, %(tier)s, {NOW}, {NOW})
  RETURNING 1)
SELECT (SELECT count(*) FROM c)"""
    params = dict(id=customer_id, email=email, first=first, last=last, segment=segment, tier=tier)
    return Statement("new_customer", sql, params, ("customers.insert",))


def new_product(
    product_id: int, name: str, sku: str, category: str, price_cents: int, stock: int,
    in_type: str,
) -> Statement:  # fmt: skip
    sql = f"""
WITH p AS (
  INSERT INTO public.products (product_id, product_name, sku, category, price, stock_quantity,
                               updated_at)
  VALUES (%(id)s, %(name)s, %(sku)s, %(category)s, %(price)s / 100.0, %(stock)s, {NOW})
  RETURNING product_id),
t AS (
  INSERT INTO public.inventory_transactions (product_id, transaction_type, quantity,
                                             transaction_date)
  SELECT product_id, %(in_type)s, %(stock)s, {NOW} FROM p
  RETURNING 1)
SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM t)"""
    params = dict(
        id=product_id, name=name, sku=sku, category=category, price=price_cents, stock=stock,
        in_type=in_type,
    )  # fmt: skip
    return Statement(
        "new_product", sql, params, ("products.insert", "inventory_transactions.insert")
    )


def new_order(
    order_id: int,
    customer_id: int,
    campaign_id: int | None,
    product_ids: list[int],
    quantities: list[int],
    price_signs: list[int],
    out_type: str,
    moves_stock: bool,
) -> Statement:
    """A Pending order, its items at current prices, inventory OUT and stock decrement."""
    sql = f"""
WITH v AS (
  SELECT * FROM unnest(%(pids)s::int[], %(qtys)s::int[], %(signs)s::int[], %(ord)s::int[])
         AS v(product_id, quantity, sign, pos)),
priced AS (
  SELECT v.product_id, v.quantity, p.price * v.sign AS unit_price, v.pos
  FROM v JOIN public.products p USING (product_id)),
o AS (
  INSERT INTO public.orders (order_id, customer_id, order_date, order_status, total_amount,
                             campaign_id, updated_at)
  SELECT %(oid)s, %(cid)s, {NOW}, 'Pending', sum(quantity * unit_price), %(camp)s, {NOW}
  FROM priced HAVING count(*) > 0
  RETURNING order_id),
i AS (
  INSERT INTO public.order_items (order_id, product_id, quantity, unit_price)
  SELECT o.order_id, priced.product_id, priced.quantity, priced.unit_price
  FROM o, priced ORDER BY priced.pos
  RETURNING product_id, quantity),
t AS (
  INSERT INTO public.inventory_transactions (product_id, transaction_type, quantity,
                                             transaction_date)
  SELECT product_id, %(out_type)s, quantity, {NOW} FROM i WHERE quantity > 0
  RETURNING 1),
s AS (
  UPDATE public.products p
  SET stock_quantity = p.stock_quantity - i.quantity, updated_at = {NOW}
  FROM i WHERE p.product_id = i.product_id AND i.quantity > 0 AND %(moves)s
  RETURNING 1)
SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM i), (SELECT count(*) FROM t),
       (SELECT count(*) FROM s)"""
    params = dict(
        oid=order_id, cid=customer_id, camp=campaign_id, pids=product_ids, qtys=quantities,
        signs=price_signs, ord=list(range(len(product_ids))), out_type=out_type,
        moves=moves_stock,
    )  # fmt: skip
    keys = ("orders.insert", "order_items.insert", "inventory_transactions.insert",
            "products.update")  # fmt: skip
    return Statement("new_order", sql, params, keys)


_RESTOCK_ITEMS = f"""
back AS (
  SELECT product_id, sum(quantity) AS q FROM gone WHERE quantity > 0 GROUP BY product_id),
t AS (
  INSERT INTO public.inventory_transactions (product_id, transaction_type, quantity,
                                             transaction_date)
  SELECT product_id, 'IN', q, {NOW} FROM back
  RETURNING 1),
s AS (
  UPDATE public.products p
  SET stock_quantity = p.stock_quantity + back.q, updated_at = {NOW}
  FROM back WHERE p.product_id = back.product_id
  RETURNING 1)"""


def set_status(order_id: int, current: str, new: str, *, restock: bool) -> Statement:
    """Move an order to ``new`` if it still has ``current``; a cancel returns its stock."""
    if not restock:
        sql = f"""
WITH u AS (
  UPDATE public.orders SET order_status = %(new)s, updated_at = {NOW}
  WHERE order_id = %(oid)s AND order_status = %(cur)s
  RETURNING 1)
SELECT (SELECT count(*) FROM u)"""
        return Statement(
            "set_status", sql, dict(oid=order_id, cur=current, new=new), ("orders.update",)
        )
    sql = f"""
WITH u AS (
  UPDATE public.orders SET order_status = %(new)s, updated_at = {NOW}
  WHERE order_id = %(oid)s AND order_status = %(cur)s
  RETURNING order_id),
gone AS (
  SELECT product_id, quantity FROM public.order_items
  WHERE order_id IN (SELECT order_id FROM u)),
{_RESTOCK_ITEMS}
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM t), (SELECT count(*) FROM s)"""
    keys = ("orders.update", "inventory_transactions.insert", "products.update")
    return Statement("cancel_order", sql, dict(oid=order_id, cur=current, new=new), keys)


def delete_abandoned(order_id: int, current: str) -> Statement:
    """Delete a Pending order (its items go by ON DELETE CASCADE) and return its stock."""
    sql = f"""
WITH target AS (
  SELECT order_id FROM public.orders WHERE order_id = %(oid)s AND order_status = %(cur)s),
gone AS (
  SELECT product_id, quantity FROM public.order_items
  WHERE order_id IN (SELECT order_id FROM target)),
d AS (
  DELETE FROM public.orders WHERE order_id IN (SELECT order_id FROM target)
  RETURNING 1),
{_RESTOCK_ITEMS}
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM gone) * (SELECT count(*) FROM d),
       (SELECT count(*) FROM t), (SELECT count(*) FROM s)"""
    keys = ("orders.delete", "order_items.delete", "inventory_transactions.insert",
            "products.update")  # fmt: skip
    return Statement("delete_abandoned", sql, dict(oid=order_id, cur=current), keys)


_ITEMS_SUM = (
    "(SELECT COALESCE(sum(quantity * unit_price), 0) FROM public.order_items "
    "WHERE order_id = %(oid)s)"
)
_EDIT_KEYS_TAIL = ("orders.update", "inventory_transactions.insert", "products.update")
_STOCK_MOVES = f"""
t AS (
  INSERT INTO public.inventory_transactions (product_id, transaction_type, quantity,
                                             transaction_date)
  SELECT product_id, CASE WHEN delta > 0 THEN 'OUT' ELSE 'IN' END, abs(delta), {NOW}
  FROM moved WHERE delta <> 0
  RETURNING 1),
s AS (
  UPDATE public.products p
  SET stock_quantity = p.stock_quantity - moved.delta, updated_at = {NOW}
  FROM moved WHERE p.product_id = moved.product_id AND moved.delta <> 0
  RETURNING 1)
SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM u), (SELECT count(*) FROM t),
       (SELECT count(*) FROM s)"""


def edit_add_item(order_id: int, product_id: int, quantity: int, price_sign: int) -> Statement:
    sql = f"""
WITH e AS (
  INSERT INTO public.order_items (order_id, product_id, quantity, unit_price)
  SELECT %(oid)s, p.product_id, %(q)s, p.price * %(sign)s FROM public.products p
  WHERE p.product_id = %(pid)s
    AND EXISTS (SELECT 1 FROM public.orders WHERE order_id = %(oid)s)
  RETURNING product_id, quantity, quantity * unit_price AS amount),
u AS (
  UPDATE public.orders
  SET total_amount = {_ITEMS_SUM} + (SELECT sum(amount) FROM e), updated_at = {NOW}
  WHERE order_id = %(oid)s AND EXISTS (SELECT 1 FROM e)
  RETURNING 1),
moved AS (SELECT product_id, GREATEST(quantity, 0) AS delta FROM e),
{_STOCK_MOVES}"""
    params = dict(oid=order_id, pid=product_id, q=quantity, sign=price_sign)
    return Statement("edit_add_item", sql, params, ("order_items.insert", *_EDIT_KEYS_TAIL))


def edit_remove_item(order_id: int) -> Statement:
    """Remove one item of an order that has more than one."""
    sql = f"""
WITH victim AS (
  SELECT order_item_id FROM public.order_items WHERE order_id = %(oid)s
  ORDER BY random() LIMIT 1),
e AS (
  DELETE FROM public.order_items
  WHERE order_item_id IN (SELECT order_item_id FROM victim)
    AND (SELECT count(*) FROM public.order_items WHERE order_id = %(oid)s) > 1
  RETURNING product_id, quantity, quantity * unit_price AS amount),
u AS (
  UPDATE public.orders
  SET total_amount = {_ITEMS_SUM} - (SELECT sum(amount) FROM e), updated_at = {NOW}
  WHERE order_id = %(oid)s AND EXISTS (SELECT 1 FROM e)
  RETURNING 1),
moved AS (SELECT product_id, -GREATEST(quantity, 0) AS delta FROM e),
{_STOCK_MOVES}"""
    return Statement(
        "edit_remove_item", sql, dict(oid=order_id), ("order_items.delete", *_EDIT_KEYS_TAIL)
    )


def edit_quantity(order_id: int, quantity: int) -> Statement:
    """Change the quantity of one item of an order (stock follows the difference)."""
    sql = f"""
WITH victim AS (
  SELECT order_item_id, quantity AS old_q FROM public.order_items WHERE order_id = %(oid)s
  ORDER BY random() LIMIT 1),
e AS (
  UPDATE public.order_items i SET quantity = %(q)s
  FROM victim WHERE i.order_item_id = victim.order_item_id AND victim.old_q <> %(q)s
  RETURNING i.product_id, victim.old_q, i.quantity AS new_q, i.unit_price),
u AS (
  UPDATE public.orders
  SET total_amount = {_ITEMS_SUM} + (SELECT sum((new_q - old_q) * unit_price) FROM e),
      updated_at = {NOW}
  WHERE order_id = %(oid)s AND EXISTS (SELECT 1 FROM e)
  RETURNING 1),
moved AS (SELECT product_id, GREATEST(new_q, 0) - GREATEST(old_q, 0) AS delta FROM e),
{_STOCK_MOVES}"""
    return Statement(
        "edit_quantity", sql, dict(oid=order_id, q=quantity),
        ("order_items.update", *_EDIT_KEYS_TAIL),
    )  # fmt: skip


def change_price(product_id: int, factor: float) -> Statement:
    sql = f"""
WITH u AS (
  UPDATE public.products
  SET price = GREATEST(round(price * %(f)s, 0) - 0.01, 0.99), updated_at = {NOW}
  WHERE product_id = %(pid)s
  RETURNING 1)
SELECT (SELECT count(*) FROM u)"""
    return Statement("change_price", sql, dict(pid=product_id, f=factor), ("products.update",))


def stock_move(product_id: int, tx_type: str, quantity: int, stock_delta: int) -> Statement:
    """Restock (IN) or count adjustment (ADJUSTMENT): a transaction plus the stock update."""
    sql = f"""
WITH t AS (
  INSERT INTO public.inventory_transactions (product_id, transaction_type, quantity,
                                             transaction_date)
  SELECT product_id, %(type)s, %(q)s, {NOW} FROM public.products WHERE product_id = %(pid)s
  RETURNING 1),
s AS (
  UPDATE public.products
  SET stock_quantity = GREATEST(stock_quantity + %(delta)s, 0), updated_at = {NOW}
  WHERE product_id = %(pid)s AND %(delta)s <> 0
  RETURNING 1)
SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM s)"""
    action = "restock" if tx_type.strip() == "IN" else "adjust_stock"
    return Statement(
        action, sql, dict(pid=product_id, type=tx_type, q=quantity, delta=stock_delta),
        ("inventory_transactions.insert", "products.update"),
    )  # fmt: skip


def update_customer(customer_id: int, column: str, value: str, action: str) -> Statement:
    if column not in {"loyalty_tier", "customer_segment", "email"}:
        raise ValueError(f"unexpected customer column {column!r}")
    sql = f"""
WITH u AS (
  UPDATE public.customers SET {column} = %(v)s, updated_at = {NOW}
  WHERE customer_id = %(cid)s AND {column} IS DISTINCT FROM %(v)s
  RETURNING 1)
SELECT (SELECT count(*) FROM u)"""
    return Statement(action, sql, dict(cid=customer_id, v=value), ("customers.update",))


def new_campaign(
    campaign_id: int, name: str, channel: str, budget_cents: int, roi_cents: int,
    start_offset_days: int, length_days: int,
) -> Statement:  # fmt: skip
    sql = f"""
WITH m AS (
  INSERT INTO public.marketing_campaigns (campaign_id, campaign_name, channel, budget, roi,
                                          start_date, end_date)
  VALUES (%(id)s, %(name)s, %(channel)s, %(budget)s / 100.0, %(roi)s / 100.0,
          {NOW}::date + %(start)s, {NOW}::date + %(start)s + %(len)s - 1)
  RETURNING 1)
SELECT (SELECT count(*) FROM m)"""
    params = dict(
        id=campaign_id, name=name, channel=channel, budget=budget_cents, roi=roi_cents,
        start=start_offset_days, len=length_days,
    )  # fmt: skip
    return Statement("new_campaign", sql, params, ("marketing_campaigns.insert",))


def delete_unused_campaign(campaign_id: int) -> Statement:
    sql = """
WITH d AS (
  DELETE FROM public.marketing_campaigns c
  WHERE c.campaign_id = %(id)s
    AND NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.campaign_id = c.campaign_id)
  RETURNING 1)
SELECT (SELECT count(*) FROM d)"""
    return Statement("delete_campaign", sql, dict(id=campaign_id), ("marketing_campaigns.delete",))
