"""Typed dependency aliases for the app-wide singletons kept on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.clock import Clock
from app.core.config import Settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
