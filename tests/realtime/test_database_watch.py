"""Connected boards are told when the server loses its database and when it is back (issue 13
point 2): a board left open during an outage must not look live."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import exc as sa_exc

from app.core.config import Settings
from app.core.metrics import Metrics
from app.realtime.runtime import Realtime
from tests.fixtures.clock import FakeClock


class Board:
    def __init__(self) -> None:
        self.clinic_id = uuid.uuid4()
        self.notices: list[dict[str, Any]] = []
        self.pokes = 0

    def offer(self, event: object) -> None:
        raise AssertionError("no events expected")

    def poke(self) -> None:
        self.pokes += 1

    def notify(self, text: str) -> None:
        self.notices.append(json.loads(text))


class Database:
    """A sessionmaker whose database can be taken away."""

    def __init__(self) -> None:
        self.up = True

    def __call__(self) -> Database:
        return self

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, _statement: object) -> None:
        if not self.up:
            raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError())


async def test_boards_hear_once_when_the_database_goes_and_once_when_it_is_back():
    realtime = Realtime(Settings(env="test"), FakeClock(), Metrics())
    database = Database()
    realtime.bind(database)  # type: ignore[arg-type]
    board = Board()
    realtime.hub.subscribe(board)  # type: ignore[arg-type]

    assert await realtime.check_database() is True
    assert board.notices == []  # nothing changed: nothing said
    database.up = False
    assert await realtime.check_database() is False
    assert await realtime.check_database() is False
    database.up = True
    assert await realtime.check_database() is True

    assert [n["database"] for n in board.notices] == ["unavailable", "ok"]
    assert "cannot reach its database" in board.notices[0]["detail"]
    assert board.pokes == 1  # back: catch up on whatever was committed meanwhile
