"""Technical alarms: no data, NIBP overdue, device offline, clock skew, no board.

Rules (DESIGN §7, issue 7 point 8; protocol `[alarms.technical]`), server time, from check-in
to discharge: no reading of a continuous metric for `no_data_medium_s` → medium and
`no_data_high_s` → high ("no data from <device>"); no BP for the NIBP interval +
`nibp_overdue_grace_s` → medium ("NIBP overdue"); device offline (ingest connection gone, or
silent for `device_silent_s`) → `device_offline_priority`; clock skew flagged →
`clock_skew_priority`; no live board while a chair is infusing → `no_board_priority`. They
clear when the cause is gone. `technical_conditions` says which hold now; `reconcile` turns
them into raise / rise / clear changes against the active ones. Pure: `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from app.protocols.domain.alarms import TechnicalAlarmSettings
from app.protocols.domain.common import Metric, Priority, require_aware


class TechnicalKind(StrEnum):
    """One technical alarm per (session, kind) episode (issue 7 point 8)."""

    NO_DATA_SPO2 = "no_data_spo2"
    NO_DATA_HR = "no_data_hr"
    NO_DATA_RR = "no_data_rr"
    NIBP_OVERDUE = "nibp_overdue"
    DEVICE_OFFLINE = "device_offline"
    CLOCK_SKEW = "clock_skew"
    NO_BOARD = "no_board"


NO_DATA_KINDS: Mapping[Metric, TechnicalKind] = {
    Metric.SPO2: TechnicalKind.NO_DATA_SPO2,
    Metric.HR: TechnicalKind.NO_DATA_HR,
    Metric.PR: TechnicalKind.NO_DATA_HR,
    Metric.RR: TechnicalKind.NO_DATA_RR,
}
"""No-data kind of each continuous metric; `hr` and `pr` share one (either satisfies it)."""

_LABELS: Mapping[TechnicalKind, str] = {
    TechnicalKind.NO_DATA_SPO2: "SpO2",
    TechnicalKind.NO_DATA_HR: "HR",
    TechnicalKind.NO_DATA_RR: "RR",
}

NIBP_OVERDUE_PRIORITY = Priority.MEDIUM
"""Issue 7 point 8 fixes NIBP overdue at medium; the protocol file has no key for it."""


@dataclass(frozen=True, slots=True)
class TechnicalInputs:
    """What the scheduler knows about one monitored session at `now` (server time).

    `monitoring_since` is the check-in: no timer starts before it. `device_name` None means no
    monitor is bound, so no device-related alarm (no data, offline, clock skew) applies.
    `last_received` is the server receive time of the newest reading per continuous metric.
    `nibp_interval_s` is the NIBP checkpoint interval of the current phase (None: none due).
    `device_connection_closed_at` is None while the WS ingest connection is open or was never
    used. `boards_connected` None means board presence is unknown (no alarm).
    """

    monitoring_since: datetime
    infusing: bool
    device_name: str | None
    last_received: Mapping[Metric, datetime]
    last_bp_at: datetime | None
    nibp_interval_s: int | None
    device_last_seen_at: datetime | None
    device_connection_closed_at: datetime | None
    device_clock_skewed: bool
    boards_connected: bool | None


@dataclass(frozen=True, slots=True)
class TechnicalCondition:
    """A technical alarm condition that holds now, with its priority and display message."""

    kind: TechnicalKind
    priority: Priority
    message: str


@dataclass(frozen=True, slots=True)
class TechnicalChange:
    """One change to a session's technical alarms (`reconcile`); clears carry "cleared"."""

    kind: TechnicalKind
    change: Literal["raise", "rise", "clear"]
    priority: Priority
    message: str


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


def _no_data(
    inputs: TechnicalInputs,
    settings: TechnicalAlarmSettings,
    device: str,
    heart_rate_sources: Sequence[Metric],
    now: datetime,
) -> dict[TechnicalKind, TechnicalCondition]:
    found: dict[TechnicalKind, TechnicalCondition] = {}
    for metric in sorted(settings.no_data_metrics):
        kind = NO_DATA_KINDS.get(metric)
        if kind is None:
            continue  # NIBP and temperature are not streamed; NIBP has its own overdue alarm
        sources = tuple(heart_rate_sources) if metric in heart_rate_sources else (metric,)
        received = [inputs.last_received[m] for m in sources if m in inputs.last_received]
        since = max([inputs.monitoring_since, *received])
        silent = now - since
        if silent >= timedelta(seconds=settings.no_data_high_s):
            priority = Priority.HIGH
        elif silent >= timedelta(seconds=settings.no_data_medium_s):
            priority = Priority.MEDIUM
        else:
            continue
        previous = found.get(kind)
        if previous is None or priority.rank > previous.priority.rank:
            message = f"no data from {device} ({_LABELS[kind]}) for {_seconds(silent)} s"
            found[kind] = TechnicalCondition(kind, priority, message)
    return found


def _nibp_overdue(
    inputs: TechnicalInputs, settings: TechnicalAlarmSettings, now: datetime
) -> TechnicalCondition | None:
    if inputs.nibp_interval_s is None:
        return None
    since = max(inputs.last_bp_at or inputs.monitoring_since, inputs.monitoring_since)
    silent = now - since
    if silent < timedelta(seconds=inputs.nibp_interval_s + settings.nibp_overdue_grace_s):
        return None
    message = (
        f"NIBP overdue: no blood pressure for {_seconds(silent)} s"
        f" (interval {inputs.nibp_interval_s} s)"
    )
    return TechnicalCondition(TechnicalKind.NIBP_OVERDUE, NIBP_OVERDUE_PRIORITY, message)


def _device_offline(
    inputs: TechnicalInputs, settings: TechnicalAlarmSettings, device: str, now: datetime
) -> TechnicalCondition | None:
    closed_at = inputs.device_connection_closed_at
    last_seen = inputs.device_last_seen_at
    if closed_at is not None and (last_seen is None or closed_at >= last_seen):
        reason = "connection closed"
    else:
        since = max(last_seen or inputs.monitoring_since, inputs.monitoring_since)
        silent = now - since
        if silent < timedelta(seconds=settings.device_silent_s):
            return None
        reason = f"silent for {_seconds(silent)} s"
    return TechnicalCondition(
        TechnicalKind.DEVICE_OFFLINE,
        settings.device_offline_priority,
        f"device {device} offline ({reason})",
    )


def technical_conditions(
    inputs: TechnicalInputs,
    settings: TechnicalAlarmSettings,
    *,
    heart_rate_sources: Sequence[Metric],
    now: datetime,
) -> dict[TechnicalKind, TechnicalCondition]:
    """The technical alarm conditions that hold for one monitored session at `now`.

    Rules (issue 7 point 8, DESIGN §7; thresholds from protocol `[alarms.technical]`):
    - no data, per metric of `no_data_metrics`: silence = now − max(newest receive time,
      check-in); ≥ `no_data_medium_s` → medium, ≥ `no_data_high_s` → high. A metric listed in
      `heart_rate_sources` (protocol `alarms.heart_rate_sources`) is satisfied by the newest
      reading of any of them, so `pr` satisfies `hr` on an oximeter-only chair;
    - NIBP overdue: with an NIBP interval in force, now − max(last BP, check-in) ≥ interval +
      `nibp_overdue_grace_s` → medium;
    - device offline: the ingest connection closed at or after the device was last seen, or
      now − max(last seen, check-in) ≥ `device_silent_s` → `device_offline_priority`;
    - clock skew: the device's clock is flagged skewed → `clock_skew_priority`;
    - no board: infusing and no live board connected (False, not unknown) → `no_board_priority`.
    Without a bound device only NIBP overdue and no board apply.
    """
    require_aware("now", now)
    require_aware("monitoring_since", inputs.monitoring_since)
    found: dict[TechnicalKind, TechnicalCondition] = {}
    device = inputs.device_name
    if device is not None:
        found.update(_no_data(inputs, settings, device, heart_rate_sources, now))
        offline = _device_offline(inputs, settings, device, now)
        if offline is not None:
            found[offline.kind] = offline
        if inputs.device_clock_skewed:
            found[TechnicalKind.CLOCK_SKEW] = TechnicalCondition(
                TechnicalKind.CLOCK_SKEW,
                settings.clock_skew_priority,
                f"device {device} clock off by more than {settings.clock_skew_limit_s} s",
            )
    overdue = _nibp_overdue(inputs, settings, now)
    if overdue is not None:
        found[overdue.kind] = overdue
    if inputs.infusing and inputs.boards_connected is False:
        found[TechnicalKind.NO_BOARD] = TechnicalCondition(
            TechnicalKind.NO_BOARD,
            settings.no_board_priority,
            "no live board connected while a chair is infusing",
        )
    return found


def reconcile(
    active: Mapping[TechnicalKind, Priority], wanted: Mapping[TechnicalKind, TechnicalCondition]
) -> list[TechnicalChange]:
    """Changes that turn the active technical alarms into the wanted ones, sorted by kind.

    Rule (DESIGN §7, issue 7 points 3 and 8): a wanted kind not active is raised; an active kind
    wanted at a higher priority rises; at an equal or lower priority nothing changes (priority
    never falls within an episode); an active kind no longer wanted clears ("cleared", with its
    active priority) because its cause is gone.
    """
    changes: list[TechnicalChange] = []
    for kind in sorted(set(active) | set(wanted)):
        condition = wanted.get(kind)
        current = active.get(kind)
        if condition is not None:
            if current is None:
                changes.append(
                    TechnicalChange(kind, "raise", condition.priority, condition.message)
                )
            elif condition.priority.rank > current.rank:
                changes.append(TechnicalChange(kind, "rise", condition.priority, condition.message))
        else:
            changes.append(TechnicalChange(kind, "clear", active[kind], "cleared"))
    return changes
