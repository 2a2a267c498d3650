"""The consumer fast path recognises exactly Faust's per-message hand-off."""

from __future__ import annotations

import asyncio

from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.utils.locks import Event

from stream_apps import fastpath


def test_recognises_an_unstarted_wait_of_that_event() -> None:
    event, other = Event(), Event()
    coro = event.wait()
    try:
        assert fastpath._awaits_event(coro, event)
        assert not fastpath._awaits_event(coro, other)
    finally:
        coro.close()


def test_other_coroutines_are_not_mistaken_for_the_flow_wait() -> None:
    event = Event()

    async def wait() -> None:  # same name, different owner
        await asyncio.sleep(0)

    coro = wait()
    try:
        assert not fastpath._awaits_event(coro, event)
        assert not fastpath._awaits_event(object(), event)
    finally:
        coro.close()


def test_install_switches_the_transport_consumer() -> None:
    before = aiokafka_driver.Transport.Consumer
    try:
        fastpath.install()
        assert aiokafka_driver.Transport.Consumer is fastpath.FastDrainConsumer
        assert issubclass(fastpath.FastDrainConsumer, aiokafka_driver.Consumer)
    finally:
        aiokafka_driver.Transport.Consumer = before
