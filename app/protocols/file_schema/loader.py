"""Read and validate a protocol file; every problem names the file, the dotted key and why."""

from __future__ import annotations

import hashlib
import re
import tomllib
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.protocols.domain import CONTINUOUS_METRICS, Metric
from app.protocols.file_schema.sections import ProtocolFile

Problem = tuple[str, str]


class ProtocolFileError(ValueError):
    """A protocol file is refused. `key` is dotted (`infusion.minutes`, `alarms.rules[2].limit`)."""

    def __init__(self, path: str, key: str, reason: str, problems: list[Problem] | None = None):
        self.path = path
        self.key = key
        self.reason = reason
        self.problems = problems if problems is not None else [(key, reason)]
        message = f"{path}: {key or '(file)'}: {reason}"
        if len(self.problems) > 1:
            others = "; ".join(f"{k}: {r}" for k, r in self.problems[1:])
            message += f" (and {len(self.problems) - 1} more: {others})"
        super().__init__(message)


_KEY_PART = re.compile(r"^[A-Za-z0-9_]+$")


def dotted_key(loc: tuple[int | str, ...]) -> str:
    """A Pydantic error location as the file's dotted key (``alarms.rules[2].limit``)."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif _KEY_PART.match(part):  # skips pydantic's union/validator tags, e.g. "list[str]"
            key += f".{part}" if key else part
    return key


def describe_error(error: Any, schema: str = "protocol") -> str:
    """A Pydantic error of a data file (protocol, scale) in words, with the offending value."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key (not part of the {schema} schema)"
    if kind == "missing":
        return "required key is missing"
    if kind == "is_instance_of":
        return f"must be a number (got {error.get('input')!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | Decimal | bool):
        message += f" (got {value!r})"
    return message


def _cross_field_problems(model: ProtocolFile) -> list[Problem]:
    problems: list[Problem] = []
    inf, prep, tit = model.infusion, model.preparation, model.titration
    if not inf.minutes_min <= inf.minutes <= inf.minutes_max:
        problems.append(("infusion.minutes", "must lie within [minutes_min, minutes_max]"))
    if not inf.plausible_weight_min_kg < inf.warning_weight_kg <= inf.plausible_weight_max_kg:
        problems.append(
            (
                "infusion.warning_weight_kg",
                "must lie above the plausible minimum, up to the maximum",
            )
        )
    if prep.mode == "fixed_bag_volume" and (
        prep.bag_volume_ml is None or prep.concentration_mg_per_ml is not None
    ):
        problems.append(
            (
                "preparation.bag_volume_ml",
                "mode fixed_bag_volume needs bag_volume_ml and no concentration_mg_per_ml",
            )
        )
    if prep.mode == "fixed_concentration" and (
        prep.concentration_mg_per_ml is None or prep.bag_volume_ml is not None
    ):
        problems.append(
            (
                "preparation.concentration_mg_per_ml",
                "mode fixed_concentration needs concentration_mg_per_ml and no bag_volume_ml",
            )
        )
    steps = tit.steps_mg_per_kg
    if any(a >= b for a, b in pairwise(steps)):
        problems.append(("titration.steps_mg_per_kg", "steps must be strictly increasing"))
    if inf.mg_per_kg not in steps:
        problems.append(("infusion.mg_per_kg", "must be one of titration.steps_mg_per_kg"))
    if tit.physician_max_mg_per_kg < max(steps):
        problems.append(("titration.physician_max_mg_per_kg", "must be at least the highest step"))
    if tit.min_mg_per_kg > min(steps):
        problems.append(("titration.min_mg_per_kg", "must not exceed the lowest step"))

    for section, ids in (
        ("pre_session.gates", [g.id for g in model.pre_session.gates]),
        ("checkpoints", [c.id for c in model.checkpoints]),
        ("alarms.rules", [r.id for r in model.alarms.rules]),
    ):
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                problems.append((f"{section}[{index}].id", f"duplicate id '{item_id}'"))

    for index, cp in enumerate(model.checkpoints):
        key = f"checkpoints[{index}]"
        if (cp.interval_minutes is None) == (cp.anchor is None):
            problems.append((f"{key}.interval_minutes", "set either interval_minutes or anchor"))
        elif cp.interval_minutes is not None and not cp.phases:
            problems.append((f"{key}.phases", "a recurring checkpoint needs phases"))
        elif cp.anchor is not None and cp.phases:
            problems.append((f"{key}.phases", "a one-off checkpoint takes no phases"))
        if cp.offset_minutes and cp.anchor != "after_start":
            problems.append((f"{key}.offset_minutes", "only used with anchor = 'after_start'"))

    for index, rule in enumerate(model.alarms.rules):
        key = f"alarms.rules[{index}]"
        if (rule.limit is None) == (rule.baseline_offset is None):
            problems.append((f"{key}.limit", "set exactly one of limit or baseline_offset"))
        continuous = Metric(rule.metric) in CONTINUOUS_METRICS
        if continuous and rule.max_gap_s is None:
            problems.append((f"{key}.max_gap_s", f"required for continuous metric '{rule.metric}'"))
        if not continuous and rule.max_gap_s is not None:
            problems.append(
                (f"{key}.max_gap_s", f"not used for single-measurement '{rule.metric}'")
            )

    tech = model.alarms.technical
    if tech.no_data_medium_s >= tech.no_data_high_s:
        problems.append(("alarms.technical.no_data_high_s", "must exceed no_data_medium_s"))
    rules = model.screening.rules
    severe, elevated = rules.resting_bp_severe, rules.resting_bp_elevated
    if (
        elevated.sbp_above_mmhg > severe.sbp_above_mmhg
        or elevated.dbp_above_mmhg > severe.dbp_above_mmhg
    ):
        problems.append(
            ("screening.rules.resting_bp_elevated", "limits must not exceed resting_bp_severe")
        )
    hr = rules.resting_hr_out_of_range
    if hr.below_bpm >= hr.above_bpm:
        problems.append(
            ("screening.rules.resting_hr_out_of_range.above_bpm", "must exceed below_bpm")
        )
    return problems


def validate_protocol_data(data: dict[str, Any], source: str) -> ProtocolFile:
    """Validate a parsed protocol (a TOML dict with Decimal floats) or raise ProtocolFileError."""
    try:
        model = ProtocolFile.model_validate(data)
    except ValidationError as exc:
        by_key: dict[str, str] = {}
        for error in exc.errors():
            by_key.setdefault(dotted_key(tuple(error["loc"])), describe_error(error))
        problems = list(by_key.items())
        raise ProtocolFileError(source, *problems[0], problems=problems) from exc
    problems = _cross_field_problems(model)
    if problems:
        raise ProtocolFileError(source, *problems[0], problems=problems)
    return model


def parse_protocol_bytes(content: bytes, source: str) -> tuple[ProtocolFile, str]:
    """Parse and validate protocol file content; returns the model and the SHA-256 (hex)."""
    digest = hashlib.sha256(content).hexdigest()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolFileError(source, "", f"not UTF-8 text ({exc.reason})") from exc
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolFileError(source, "", f"TOML syntax error: {exc}") from exc
    return validate_protocol_data(data, source), digest


def load_protocol_file(path: str | Path) -> tuple[ProtocolFile, str]:
    """Read, parse and validate a protocol file; returns the model and the file's SHA-256 (hex)."""
    file_path = Path(path)
    try:
        content = file_path.read_bytes()
    except OSError as exc:
        raise ProtocolFileError(
            str(file_path), "", f"cannot read the file ({exc.strerror})"
        ) from exc
    return parse_protocol_bytes(content, str(file_path))
