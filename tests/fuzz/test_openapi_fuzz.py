"""Schemathesis against the OpenAPI document (issue 13 §4): every operation, as every role, on a
seeded clinic; no 5xx, and every response documented (status code, content type, body schema).

The app runs in-process (schemathesis' ASGI transport, on its own event loop in a thread) on a
database of its own, seeded through the real services, with its clock frozen at the end of the
seeding, so that the same examples (``derandomize``) meet the same data on every run. Path
parameters are drawn either by schemathesis (random ids: 404) or from the rows that exist, so
the fuzzer reaches past the lookups. Figures of the run: build/reliability/fuzz.json.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from app.core import migrations, security
from app.core.config import Settings
from app.main import create_app
from tests.fixtures.clock import FakeClock
from tests.fixtures.databases import drop_database, fresh_database_url
from tests.fuzz.seed import Seeded, seed, settings_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fuzz-openapi")]

ROLES = ("nurse", "physician", "admin", "device", "anonymous")
# Examples per operation and role, per generation mode (negative: data that breaks the
# documented schema). Sized so that the module stays within 6 minutes on the 2-core CI machine
# under coverage, next to the other xdist worker.
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 8}
# Stateful runs: scenarios per role, each a chain of up to STEPS calls in which one response's
# ids feed the next request. The document declares no OpenAPI links; schemathesis infers them
# from the schemas (a `ChairRead.id` feeds `{chair_id}`), and follows declared ones as well.
SCENARIOS = 60
STEPS = 12
MAX_DETAIL = 3000  # characters of one failure's report (a fuzzed body can be megabytes)
FIGURES = Path(__file__).resolve().parents[2] / "build" / "reliability" / "fuzz.json"

RESPONSE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
# Data that breaks the documented schema must also be refused (4xx), never accepted.
NEGATIVE_CHECKS = [*RESPONSE_CHECKS, checks.negative_data_rejection]

# Operations not fuzzed, each with the reason why. Empty: every operation is fuzzed.
EXCLUDED: dict[str, str] = {}


class LikeAServer:
    """What uvicorn does with an exception once Starlette has sent the 500: log it and go on
    (the ASGI transport would raise it into the test and end the run at the first bug). The
    tracebacks go into the failure report."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tracebacks: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise
            self.tracebacks.append(traceback.format_exc(limit=-12))


@dataclass
class Tally:
    """What one test sent and got back."""

    statuses: Counter[str] = field(default_factory=Counter)
    answered_2xx: set[str] = field(default_factory=set)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def count(self, label: str, status: int) -> None:
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            self.answered_2xx.add(label)

    def figures(self, **more: Any) -> dict[str, Any]:
        return {
            **more,
            "requests": sum(self.statuses.values()),
            "statuses": dict(sorted(self.statuses.items())),
            "operations_answered_2xx": len(self.answered_2xx),
            "failures": len(self.failures),
        }


@dataclass
class Target:
    seeded: Seeded
    schema: Any
    server: LikeAServer
    settings: Settings
    reset: Callable[[], None] = lambda: None

    def auth(self, role: str) -> dict[str, str]:
        """A fresh credential per request: a fuzzed logout revokes only the token it sent."""
        if role == "anonymous":
            return {}
        if role == "device":
            return {"Authorization": f"Bearer {self.seeded.device_key}"}
        user = self.seeded.users[role]
        token, _ = security.encode_access_token(
            secret=self.settings.secret_key.get_secret_value(),
            user_id=user.id,
            role=user.role,
            clinic_id=user.clinic_id,
            now=self.seeded.clock_at,
            lifetime=timedelta(minutes=self.settings.access_token_minutes),
        )
        return {"Authorization": f"Bearer {token}"}

    def failure(self, case: Any, response: Any, kind: str, exc: FailureGroup) -> tuple[str, str]:
        """(one-line summary, the report: request, response, and the traceback of a 500)."""
        titles = ", ".join(sorted({f.title for f in exc.exceptions}))
        detail = str(exc)
        if len(detail) > MAX_DETAIL:
            detail = detail[:MAX_DETAIL] + f"... ({len(detail) - MAX_DETAIL} more characters)"
        if response.status_code >= 500 and self.server.tracebacks:
            detail += "\n" + self.server.tracebacks[-1]
        return f"{case.operation.label} [{kind}] {response.status_code}: {titles}", detail


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, Any]]:
    """What the run did, written to build/reliability/fuzz.json once the module is done."""
    started = time.monotonic()
    collected: dict[str, Any] = {"stateless": {}, "stateful": {}}
    yield collected
    _write_figures(collected, duration_s=time.monotonic() - started)


@contextmanager
def _serving(url: str) -> Iterator[Target]:
    from schemathesis.python import asgi

    migrations.upgrade(url)
    seeded = asyncio.run(seed(url))
    app_settings = settings_for(url)
    server = LikeAServer(create_app(app_settings, clock=FakeClock(seeded.clock_at)))
    try:
        yield Target(
            seeded, schemathesis.openapi.from_asgi("/openapi.json", server), server, app_settings
        )
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app on a seeded database of the suite's kind (PostgreSQL on CI)."""
    url = fresh_database_url(str(tmp_path_factory.mktemp("fuzz")), "fuzz")
    with _serving(url) as served:
        yield served
    drop_database(url)


@pytest.fixture(scope="module")
def stateful_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app on a seeded SQLite database that every scenario starts from afresh: when
    Hypothesis replays a scenario's choices they must meet the same state, not what the scenarios
    before it left behind (it reports that as flaky data generation). SQLite, because its online
    backup API puts the seeded copy back in milliseconds."""
    folder = tmp_path_factory.mktemp("fuzz-stateful")
    live, seeded_copy = folder / "live.db", folder / "seeded.db"
    with _serving(f"sqlite+aiosqlite:///{live}") as served:
        _copy_database(live, seeded_copy)
        served.reset = lambda: _copy_database(seeded_copy, live)
        yield served


def _copy_database(source: Path, destination: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(destination)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _total(per_role: dict[str, dict[str, Any]], key: str) -> int:
    return sum(int(r[key]) for r in per_role.values())


def _write_figures(collected: dict[str, Any], *, duration_s: float) -> None:
    stateless, stateful = collected["stateless"], collected["stateful"]
    statuses: Counter[str] = Counter()
    for per_role in (*stateless.values(), *stateful.values()):
        statuses.update(per_role["statuses"])
    summary = {
        "operations": max((r["operations"] for r in stateless.values()), default=0),
        "excluded": EXCLUDED,
        "roles": sorted(stateless),
        "examples_per_operation_and_role": {m.value: n for m, n in EXAMPLES.items()},
        "stateful_scenarios_per_role": SCENARIOS,
        "stateful_max_steps": STEPS,
        "requests": sum(statuses.values()),
        "responses_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "failures": _total(stateless, "failures") + _total(stateful, "failures"),
        "statuses": dict(sorted(statuses.items())),
        "duration_s": round(duration_s, 1),
        "stateless": stateless,
        "stateful": stateful,
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _settings(examples: int, **more: Any) -> settings:
    """Reproducible: the same examples every run (derandomize), none shrunk or replayed."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **more,
    )


def _examples(target: Target, operation: Any, role: str, mode: GenerationMode, tally: Tally):
    """A Hypothesis test of the operation's examples in one mode. A failing check is recorded,
    not raised, so every example runs (nothing is shrunk) and every failure is listed."""
    negative = mode is GenerationMode.NEGATIVE
    known = target.seeded.known

    @_settings(EXAMPLES[mode])
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        if not negative:
            for name in list(case.path_parameters or {}):
                if rows := known.get(name):
                    picked = data.draw(st.sampled_from([None, *rows]), label=name)
                    if picked is not None:
                        case.path_parameters[name] = picked
        auth = target.auth(role)
        response = case.call(headers=auth)
        tally.count(operation.label, response.status_code)
        try:
            case.validate_response(
                response, checks=NEGATIVE_CHECKS if negative else RESPONSE_CHECKS, headers=auth
            )
        except FailureGroup as exc:
            tally.failures.append(target.failure(case, response, mode.value, exc))

    return run


@pytest.mark.timeout(150)  # about 20 s per role on PostgreSQL without coverage
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(
    target: Target, figures: dict[str, Any], role: str
) -> None:
    tally, fuzzed, nothing_to_negate = Tally(), [], []
    for result in target.schema.get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        fuzzed.append(operation.label)
        for mode in EXAMPLES:
            try:
                _examples(target, operation, role, mode, tally)()
            except Unsatisfiable:
                # No parameter and no body to make invalid (GET /healthz): positive only.
                if mode is not GenerationMode.NEGATIVE:
                    raise
                nothing_to_negate.append(operation.label)
    figures["stateless"][role] = tally.figures(
        operations=len(fuzzed), operations_without_negative_data=len(nothing_to_negate)
    )
    documented = {
        f"{method.upper()} {path}"
        for path, item in target.schema.raw_schema["paths"].items()
        for method in item
    }
    assert sorted(documented - set(EXCLUDED)) == sorted(fuzzed)
    assert not tally.failures, _report(role, tally.failures)


@pytest.mark.timeout(90)  # about 6 s per role without coverage
@pytest.mark.parametrize("role", ROLES)
def test_linked_operations_answer_as_documented(
    stateful_target: Target, figures: dict[str, Any], role: str
) -> None:
    target, tally = stateful_target, Tally()
    scenarios = 0
    machine = target.schema.as_state_machine()
    assert target.schema.statistic.transitions.total > 0, "no links declared or inferred"

    class AsRole(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            nonlocal scenarios
            scenarios += 1
            target.reset()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": target.auth(role)}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            tally.count(case.operation.label, response.status_code)
            try:
                case.validate_response(response, checks=RESPONSE_CHECKS, transport_kwargs=kwargs)
            except FailureGroup as exc:
                tally.failures.append(target.failure(case, response, "stateful", exc))

    AsRole.run(settings=_settings(SCENARIOS, stateful_step_count=STEPS))
    figures["stateful"][role] = tally.figures(
        scenarios=scenarios, links=target.schema.statistic.transitions.total
    )
    assert not tally.failures, _report(role, tally.failures)


def _report(role: str, failures: list[tuple[str, str]]) -> str:
    """Each distinct failure once with its count, then one full report of each."""
    counts = Counter(summary for summary, _ in failures)
    first = dict(reversed(failures))
    lines = [f"{len(failures)} failing examples as {role}:"]
    lines += [f"  {n} x {summary}" for summary, n in sorted(counts.items())]
    lines += ["", *(f"--- {summary}\n{first[summary]}" for summary in sorted(counts))]
    return "\n".join(lines)
