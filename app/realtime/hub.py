"""The in-process hub: which board connections of this instance want which clinic's events.

Delivery is synchronous and never waits: each connection has its own bounded inbox, and a
connection whose inbox is full is cut off by its own task (see `app.realtime.board`), so one
slow client cannot slow the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from app.realtime.events import BoardEvent


class Subscriber(Protocol):
    clinic_id: uuid.UUID

    def offer(self, event: BoardEvent) -> None:
        """Take an event of the subscriber's clinic (ignore it if not wanted); never blocks."""

    def poke(self) -> None:
        """Catch up from the database (events may have been missed)."""

    def notify(self, text: str) -> None:
        """Send a notice (a ready JSON frame) ahead of anything else queued; never blocks."""


class Hub:
    def __init__(self) -> None:
        self._by_clinic: dict[uuid.UUID, set[Subscriber]] = {}

    def subscribe(self, subscriber: Subscriber) -> None:
        self._by_clinic.setdefault(subscriber.clinic_id, set()).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._by_clinic.get(subscriber.clinic_id)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._by_clinic[subscriber.clinic_id]

    def publish(self, events: Iterable[BoardEvent]) -> int:
        """Hand committed events to the connections of their clinic; returns how many offers."""
        offered = 0
        for event in events:
            for subscriber in tuple(self._by_clinic.get(event.clinic_id, ())):
                subscriber.offer(event)
                offered += 1
        return offered

    def poke_all(self) -> None:
        for subscribers in tuple(self._by_clinic.values()):
            for subscriber in tuple(subscribers):
                subscriber.poke()

    def notify_all(self, text: str) -> None:
        for subscribers in tuple(self._by_clinic.values()):
            for subscriber in tuple(subscribers):
                subscriber.notify(text)

    def counts(self) -> dict[uuid.UUID, int]:
        """Connected boards per clinic."""
        return {clinic: len(subs) for clinic, subs in self._by_clinic.items()}

    @property
    def connections(self) -> int:
        return sum(len(subs) for subs in self._by_clinic.values())
