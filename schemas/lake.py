"""Lake layout: bronze and silver are Delta Lake tables, one per source table and layer.

::

    s3://<bronze bucket>/<table>   raw change events as received, plus Kafka coordinates
    s3://<silver bucket>/<table>   the typed silver change-log, plus bronze coordinates

Both layers are partitioned by ``commit_date``, the UTC date of the source commit (the
Kafka timestamp's date when the event carries none), so a day's files sit together and
time-bounded reads prune whole folders.

Exactly once per Kafka offset: every commit to a table carries one Delta application
transaction per Kafka partition it covers, with the app id ``<layer>/<topic>/<partition>``
and, as its version, the last offset of that partition the commit covers. A writer drops
rows at or below the recorded version before writing, so a replayed offset never adds a
row, whatever the batch boundaries were the first time.
"""

from __future__ import annotations

import re
from typing import NamedTuple

BRONZE = "bronze"
SILVER = "silver"
LAYERS: tuple[str, ...] = (BRONZE, SILVER)

#: The Delta partition column of every lake table (a ``date``).
PARTITION_COLUMN = "commit_date"


class Coordinates(NamedTuple):
    """Names of the columns holding a row's Kafka coordinates in one layer."""

    topic: str
    partition: str
    offset: str


#: Bronze rows carry their own Kafka coordinates; silver rows those of their bronze event.
COORDINATES: dict[str, Coordinates] = {
    BRONZE: Coordinates("topic", "partition", "offset"),
    SILVER: Coordinates("bronze_topic", "bronze_partition", "bronze_offset"),
}

_TABLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_APP_ID_RE = re.compile(r"(?P<layer>[a-z]+)/(?P<topic>[A-Za-z0-9._-]+)/(?P<partition>\d{1,9})")


def table_uri(bucket: str, table: str) -> str:
    """Where the Delta table of ``table`` lives in ``bucket``."""
    if not _TABLE_RE.fullmatch(table):
        raise ValueError(f"invalid lake table name: {table!r}")
    return f"s3://{bucket}/{table}"


def app_id(layer: str, topic: str, partition: int) -> str:
    """The Delta application-transaction id of one layer, Kafka topic and partition."""
    if layer not in LAYERS:
        raise ValueError(f"unknown lake layer {layer!r}")
    candidate = f"{layer}/{topic}/{partition}"
    if partition < 0 or not _APP_ID_RE.fullmatch(candidate):
        raise ValueError(f"invalid topic or partition for an app id: {topic!r}, {partition}")
    return candidate


class AppId(NamedTuple):
    layer: str
    topic: str
    partition: int


def parse_app_id(text: str) -> AppId:
    """The parts of an id made by :func:`app_id`; ``ValueError`` on anything else."""
    m = _APP_ID_RE.fullmatch(text)
    if m is None or m["layer"] not in LAYERS:
        raise ValueError(f"not a lake app id: {text!r}")
    return AppId(m["layer"], m["topic"], int(m["partition"]))
