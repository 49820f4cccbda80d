"""domain.py modules are pure: no framework imports, no clock, no randomness (STYLE §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
FORBIDDEN_IMPORTS = ("fastapi", "starlette", "sqlalchemy", "pydantic", "redis", "httpx", "random")
FORBIDDEN_IMPORTS_APP = ("app.core.db", "app.core.pubsub")
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today")}
FORBIDDEN_NAMES = {"uuid4", "uuid1"}


def domain_modules() -> list[Path]:
    files = sorted(APP.glob("*/domain.py")) + sorted(APP.glob("*/domain/*.py"))
    return [f for f in files if f.name != "__init__.py" or f.stat().st_size > 0]


def test_there_are_domain_modules():
    assert len(domain_modules()) >= 3


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: str(p.relative_to(APP)))
def test_domain_module_is_pure(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for name in names:
                root = name.split(".")[0]
                if root in FORBIDDEN_IMPORTS or name.startswith(FORBIDDEN_IMPORTS_APP):
                    problems.append(f"line {node.lineno}: imports {name}")
                if name.startswith("app.") and name.split(".")[-1] in {
                    "models",
                    "repository",
                    "service",
                    "router",
                }:
                    problems.append(f"line {node.lineno}: imports adapter module {name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in FORBIDDEN_CALLS or func.attr in FORBIDDEN_NAMES:
                    problems.append(f"line {node.lineno}: calls {func.value.id}.{func.attr}()")
            elif isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
                problems.append(f"line {node.lineno}: calls {func.id}()")
    assert not problems, f"{path.relative_to(APP)} is not pure:\n" + "\n".join(problems)


def _domain_of(path: Path) -> str:
    return path.relative_to(APP).parts[0]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in APP.rglob("*.py") if len(p.relative_to(APP).parts) > 1),
    ids=lambda p: str(p.relative_to(APP)),
)
def test_no_domain_reads_another_domains_repository(path: Path):
    """Cross-domain calls go through the other domain's service (STYLE §1), never its SQL."""
    own = _domain_of(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if (
                len(parts) >= 3
                and parts[0] == "app"
                and parts[1] != own
                and parts[2] == "repository"
            ):
                pytest.fail(f"{path.relative_to(APP)} line {node.lineno} imports {node.module}")
