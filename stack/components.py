"""The five components of the local stack: how each is configured, started, checked, stopped.

State lives under ``settings.home`` (``ECOM_HOME``); the schema registry keeps its data
in its own PostgreSQL database::

    postgres/data   postgres/run (socket)   kafka/data   minio/data   connect/
    conf/           rendered configuration files
    logs/NAME.log   run/NAME.pid
"""

from common.settings import Settings
from stack.component import Component, Health
from stack.exceptions import StackError
from stack.kafka import Connect, Kafka
from stack.minio import Minio
from stack.postgres import Postgres
from stack.registry import Registry

__all__ = [
    "Component",
    "Connect",
    "Health",
    "Kafka",
    "Minio",
    "Postgres",
    "Registry",
    "ORDER",
    "NAMES",
    "by_name",
]


ORDER: tuple[type[Component], ...] = (Postgres, Kafka, Connect, Minio, Registry)
NAMES: tuple[str, ...] = tuple(c.name for c in ORDER)


def by_name(settings: Settings, name: str) -> Component:
    for cls in ORDER:
        if cls.name == name:
            return cls(settings)
    raise StackError(f"unknown component {name!r}", hint=f"choose one of {', '.join(NAMES)}")
