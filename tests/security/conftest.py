"""Shared by the security suite: the figures file, and the routes taken from the OpenAPI
document with their path parameters filled in."""

from __future__ import annotations

import fcntl
import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, routing

FIGURES = Path(__file__).resolve().parents[2] / "build" / "reliability" / "security.json"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAM = re.compile(r"{([a-z_]+)}")


def record_figures(section: str, figures: dict[str, Any]) -> None:
    """Merge one section's figures into build/reliability/security.json (the tests of one
    run may write concurrently: xdist workers)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with open(FIGURES.parent / ".security.json.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        except json.JSONDecodeError:
            current = {}
        current[section] = figures
        FIGURES.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) of the OpenAPI document, sorted."""
    return sorted(
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


def path_params(path: str) -> list[str]:
    return _PARAM.findall(path)


def fill(path: str, values: dict[str, Any]) -> str:
    """The path with each ``{name}`` replaced; a name missing from ``values`` fails loudly."""
    missing = [p for p in path_params(path) if p not in values]
    assert not missing, f"{path}: no value for {missing} (add it to the test's PATH_PARAMS)"
    return path.format(**{k: values[k] for k in path_params(path)})


def route_contexts(app: FastAPI) -> dict[tuple[str, str], Any]:
    """(method, path) → FastAPI's route context (``dependant``, ``include_in_schema``) for
    every HTTP route, those of included routers too."""
    return {
        (method, context.path): context
        for context in routing.iter_route_contexts(app.routes)
        if getattr(context, "dependant", None) is not None
        for method in (getattr(context, "methods", None) or ())
    }


def calls(dependant: Any, target: Any) -> bool:
    """Whether ``target`` is among the dependencies (at any depth) of a route."""
    return any(d.call is target or calls(d, target) for d in dependant.dependencies)


def page_routes(app: FastAPI) -> list[str]:
    """The server-rendered pages: GET routes outside the OpenAPI document that render HTML
    (not the JSON board tiles or the redirecting index)."""
    return sorted(
        path
        for (method, path), context in route_contexts(app).items()
        if method == "GET" and not context.include_in_schema and path not in ("/", "/board/tiles")
    )
