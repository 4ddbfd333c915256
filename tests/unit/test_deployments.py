"""deployments/prefect.yaml points at flows that exist (docs/architecture.md, "A run, with and
without a Prefect server")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]


def _flow_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "flow":
                    names.add(node.name)
    return names


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_names_a_flow(deployment: dict[str, str]) -> None:
    path, _, function = deployment["entrypoint"].partition(":")
    assert (ROOT / path).is_file(), f"{deployment['name']}: no {path}"
    assert function in _flow_functions(ROOT / path), f"{path} has no @flow {function}"
