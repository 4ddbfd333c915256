"""The rooms and their arrows (docs/architecture.md, "Rooms and arrows"), enforced.

Every ``import`` and ``from`` statement of the repository's Python code is read with ``ast``:
module level, inside functions and under ``if TYPE_CHECKING:`` alike, since each one is a
dependency someone has to install or a layer someone has to understand.

- Imports go one way: ``recvault -> auditor -> flows -> storage -> models`` (the CLI serves the
  auditor app; the auditor never imports the CLI); ``deployments`` sit on top; ``simulator``
  stands beside, importing none of them and imported by none of them.
- The simulator rule: production code never imports ``simulator``, ``moto`` or ``tests``, except
  ``recvault/cli/demo.py`` (the dev-only ``recvault demo`` and ``recvault simulator serve``),
  and that module only inside functions, so importing it needs nothing from the demo extra.
- No import cycles between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The rooms of production code (``auditor`` is checked as soon as it exists).
PRODUCTION = ("models", "storage", "flows", "recvault", "auditor", "deployments")
PACKAGES = (*PRODUCTION, "simulator")
# Dev-only: the Infobip simulator, moto (the demo extra and the dev group), the test suite.
DEV_ONLY = frozenset({"simulator", "moto", "tests"})

FORBIDDEN: dict[str, frozenset[str]] = {
    # The domain: no I/O libraries, nothing above it. SQLModel/SQLAlchemy only for the table
    # definitions (see ALLOWED_EXCEPTIONS).
    "models": frozenset(
        {
            "storage",
            "flows",
            "recvault",
            "auditor",
            "deployments",
            "prefect",
            "httpx",
            "boto3",
            "botocore",
            "mypy_boto3_s3",
            "alembic",
            "sqlalchemy",
            "sqlmodel",
            "starlette",
            "uvicorn",
        }
    ),
    # The adapters: never the orchestration, nothing above them.
    "storage": frozenset({"flows", "recvault", "auditor", "deployments", "prefect"}),
    "flows": frozenset({"recvault", "auditor", "deployments"}),
    # The CLI serves the auditor app (``recvault serve-api``) and builds it in the composition
    # root, so it may import ``auditor``; the auditor never reaches back into the CLI.
    "recvault": frozenset({"deployments"}),
    "auditor": frozenset({"recvault", "deployments", "prefect", "simulator"}),
    "deployments": frozenset(),
    # A second, independent reading of Infobip's API: sharing the client's code would let a
    # misreading agree with itself.
    "simulator": frozenset(PRODUCTION) | {"prefect", "boto3", "botocore"},
}
# (file, imported top-level name) pairs that are allowed despite FORBIDDEN.
ALLOWED_EXCEPTIONS = frozenset(
    {("models/tables.py", "sqlalchemy"), ("models/tables.py", "sqlmodel")}
)
# The one production module that may import DEV_ONLY names, and only inside functions.
DEV_COMMANDS = "recvault/cli/demo.py"


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name as written (relative imports resolved)
    names: tuple[str, ...]  # for ``from m import a, b``: ("a", "b"); else ()
    line: int
    top_level: bool  # executed when the module is imported (not inside a function)

    @property
    def root(self) -> str:
        return self.module.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(packages: tuple[str, ...] = PACKAGES) -> Iterator[Path]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            # Alembic revision scripts are data for alembic, frozen at the schema they wrote.
            if "versions" not in path.relative_to(ROOT).parts:
                yield path


def _resolve(node: ast.ImportFrom, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, *, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                found.extend(
                    Import(alias.name, (), child.lineno, not in_function) for alias in child.names
                )
            elif isinstance(child, ast.ImportFrom):
                names = tuple(alias.name for alias in child.names)
                found.append(Import(_resolve(child, path), names, child.lineno, not in_function))
            visit(child, in_function=nested)

    visit(tree, in_function=False)
    return found


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    offenders = [
        f"{_rel(path)}:{imp.line} imports {imp.module}"
        for path in source_files((package,))
        for imp in imports(path)
        if imp.root in FORBIDDEN[package] and (_rel(path), imp.root) not in ALLOWED_EXCEPTIONS
    ]
    assert not offenders, f"{package}/ must not import these:\n" + "\n".join(offenders)


def test_production_code_does_not_import_dev_only_code() -> None:
    offenders = []
    for path in source_files(PRODUCTION):
        for imp in imports(path):
            if imp.root not in DEV_ONLY:
                continue
            if _rel(path) == DEV_COMMANDS and imp.root != "tests" and not imp.top_level:
                continue
            where = "at module level" if imp.top_level else "inside a function"
            offenders.append(f"{_rel(path)}:{imp.line} imports {imp.module} {where}")
    assert not offenders, (
        "production code imports dev-only code; only recvault/cli/demo.py may, inside a "
        "function after require_demo_extra():\n" + "\n".join(offenders)
    )


def test_dev_commands_check_the_demo_extra_before_importing_it() -> None:
    """Each function of the dev-commands module that imports simulator or moto calls
    ``require_demo_extra`` first (or is only reached from one that did)."""
    tree = ast.parse((ROOT / DEV_COMMANDS).read_text())
    checked, unchecked = set(), {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        guarded_at = min(
            (
                call.lineno
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "require_demo_extra"
            ),
            default=None,
        )
        dev_imports = [
            child.lineno
            for child in ast.walk(node)
            if isinstance(child, ast.Import | ast.ImportFrom)
            and any(
                name.split(".")[0] in DEV_ONLY
                for name in (
                    [a.name for a in child.names]
                    if isinstance(child, ast.Import)
                    else [child.module or ""]
                )
            )
        ]
        if not dev_imports:
            continue
        if guarded_at is not None and guarded_at < min(dev_imports):
            checked.add(node.name)
        else:
            unchecked[node.name] = dev_imports
    # moto_s3() is only entered from run_demo(), which checks first.
    helpers = {"moto_s3"}
    assert {"run_demo", "serve_simulator"} <= checked
    assert set(unchecked) <= helpers, unchecked


# --- cycles -----------------------------------------------------------------------------------


def module_graph() -> dict[str, set[str]]:
    """Module -> the repository modules it imports (each import's most specific module)."""
    paths = {module_name(path): path for path in source_files()}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for imp in imports(path):
            # ``from pkg import mod`` names a module; ``from mod import func`` names mod.
            targets = [f"{imp.module}.{n}" for n in imp.names] if imp.names else [imp.module]
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    found = cycles(module_graph())
    assert not found, "import cycles (each line one cycle's modules):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_import_reader_sees_lazy_and_type_checking_imports() -> None:
    assert any(
        imp.module == "mypy_boto3_s3.client" and imp.top_level
        for imp in imports(ROOT / "storage/s3/client.py")
    ), "TYPE_CHECKING imports count"
    assert any(
        imp.module == "simulator.server" and not imp.top_level
        for imp in imports(ROOT / DEV_COMMANDS)
    ), "imports inside functions count"
