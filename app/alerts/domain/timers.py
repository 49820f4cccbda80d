"""Timed behaviour of one active alarm: escalation, re-annunciation, silence (issue 7 p. 6-7).

Rules (DESIGN §7; protocol `[alarms.escalation]`): an unacknowledged high alarm escalates after
`high_unacknowledged_s`, a medium one after `medium_unacknowledged_s`, a low one never; each
priority escalates at most once and a rise restarts the clock. Silence pauses the sound of one
alarm for `silence_s`. An acknowledged alarm whose condition persists sounds again
`reannunciate_after_ack_s` after the acknowledgement or the last re-annunciation.

All instants are server time, timezone-aware; `now` is an argument (no clock, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.protocols.domain.alarms import EscalationSettings
from app.protocols.domain.common import Priority, require_aware


@dataclass(frozen=True, slots=True)
class AlarmTiming:
    """What the timers need to know about one active alarm (server time).

    `priority_since` is when the alarm was raised or last rose. `acknowledged_at` and
    `escalated_at` belong to the current priority: the caller resets both to None on a rise
    (DESIGN §7: a rise needs a new acknowledgement and restarts escalation), and also resets
    `silenced_until` (a rise cancels silence). `last_annunciated_at` is the raise, the last rise
    or the last re-annunciation, whichever is newest.
    """

    priority: Priority
    priority_since: datetime
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    condition_present: bool
    last_annunciated_at: datetime
    silenced_until: datetime | None


def escalation_after_s(priority: Priority, settings: EscalationSettings) -> int | None:
    """Seconds an alarm of `priority` may stay unacknowledged before it escalates.

    Rule: high → `high_unacknowledged_s`, medium → `medium_unacknowledged_s`, low → None
    (never escalates). Source: protocol `[alarms.escalation]`, DESIGN §7, issue 7 point 7.
    """
    if priority is Priority.HIGH:
        return settings.high_unacknowledged_s
    if priority is Priority.MEDIUM:
        return settings.medium_unacknowledged_s
    return None


def escalation_due_at(timing: AlarmTiming, settings: EscalationSettings) -> datetime | None:
    """When the alarm escalates if nobody acknowledges it, or None if it never will.

    Rule: `priority_since` + the priority's unacknowledged time; None for low priority, for an
    acknowledged alarm, and for one already escalated at its current priority (DESIGN §7,
    issue 7 point 7). Lets a scheduler sleep until the next due instant.
    """
    after_s = escalation_after_s(timing.priority, settings)
    if after_s is None or timing.acknowledged_at is not None or timing.escalated_at is not None:
        return None
    return timing.priority_since + timedelta(seconds=after_s)


def escalation_due(timing: AlarmTiming, settings: EscalationSettings, now: datetime) -> bool:
    """Whether the alarm must be escalated now (issue 7 point 7, DESIGN §7).

    Rule: a high alarm unacknowledged for ≥ `high_unacknowledged_s` (default 60 s) since it
    reached its priority, a medium one for ≥ `medium_unacknowledged_s` (default 120 s); low
    alarms never; never twice for the same priority; never once acknowledged. The condition
    need not persist: a latching alarm waiting for acknowledgement still escalates.
    """
    require_aware("now", now)
    due_at = escalation_due_at(timing, settings)
    return due_at is not None and now >= due_at


def reannunciation_due_at(timing: AlarmTiming, settings: EscalationSettings) -> datetime | None:
    """When the acknowledged alarm sounds again, or None if it will not.

    Rule: `reannunciate_after_ack_s` (default 300 s) after the newer of the acknowledgement and
    the last annunciation, while the condition persists; None when unacknowledged or when the
    condition has ended (DESIGN §7, issue 7 point 6).
    """
    if timing.acknowledged_at is None or not timing.condition_present:
        return None
    since = max(timing.acknowledged_at, timing.last_annunciated_at)
    return since + timedelta(seconds=settings.reannunciate_after_ack_s)


def reannunciation_due(timing: AlarmTiming, settings: EscalationSettings, now: datetime) -> bool:
    """Whether an acknowledged alarm whose condition persists must sound again now.

    Rule: acknowledged, condition still present, and ≥ `reannunciate_after_ack_s` (default
    5 min) since max(acknowledged_at, last_annunciated_at). After a re-annunciation the caller
    sets `last_annunciated_at` = now, so it repeats every interval (DESIGN §7, issue 7 p. 6).
    """
    require_aware("now", now)
    due_at = reannunciation_due_at(timing, settings)
    return due_at is not None and now >= due_at


def silence_until(settings: EscalationSettings, now: datetime) -> datetime:
    """End of a silence started at `now`: now + `silence_s` (default 2 min; DESIGN §7, p. 6)."""
    require_aware("now", now)
    return now + timedelta(seconds=settings.silence_s)


def sounding(timing: AlarmTiming, now: datetime) -> bool:
    """Whether the boards should play the alarm's tone now (DESIGN §7, issue 7 point 6).

    Rule: not silenced (`silenced_until` None or ≤ now), and either not acknowledged or
    re-annunciated after the acknowledgement (`last_annunciated_at` > `acknowledged_at`).
    """
    require_aware("now", now)
    if timing.silenced_until is not None and timing.silenced_until > now:
        return False
    return timing.acknowledged_at is None or timing.last_annunciated_at > timing.acknowledged_at
