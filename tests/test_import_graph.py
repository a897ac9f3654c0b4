"""The import graph inside the layers (#18): screens leave for another flow by name, and no
module imports itself round a circle.

A flow is a module ``screens.<name>`` or a package ``screens.<name>/`` (whose own modules
import each other). A flow opens another one with ``app.open_flow(name, ...)`` (``tui/flows.py``)
or dismisses with a result; what several flows use lives in the shared modules below them,
which import no flow. Lazy imports inside functions count: grimp reads every import statement.
import-linter's contract "screen flows are independent" says the same for the flows of today;
this test also catches a new flow module.
"""

from __future__ import annotations

from functools import cache

import grimp
import pytest

#: Modules below the flows: widgets, labels, table helpers, dialogs and the steps that
#: several flows show (the second factor at login and in the settings, the data-protection
#: pane and the login's "cancel the deletion" dialog, the login form of customers and agents).
SHARED = {
    "screens",
    "screens.dialogs",
    "screens.labels",
    "screens.login_form",
    "screens.privacy",
    "screens.qr",
    "screens.tables",
    "screens.totp",
    "screens.widgets",
}

@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("tui", "screens", "services", "db", cache_dir=None)


def _flow(module: str) -> str | None:
    """The flow a screens module belongs to; None for a shared module."""
    if module in SHARED:
        return None
    return module.split(".")[1]


def test_no_screen_imports_a_screen_of_another_flow() -> None:
    graph = _graph()
    offenders = []
    for module in sorted(m for m in graph.modules if m.split(".")[0] == "screens"):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.split(".")[0] != "screens":
                continue
            target = _flow(imported)
            if target is not None and target != _flow(module):
                offenders.append(f"{module} -> {imported}")
    assert offenders == [], "open the other flow by name: app.open_flow(...)"


def _cycles(package: str) -> list[list[str]]:
    """The strongly connected components of more than one module inside ``package``."""
    graph = _graph()
    modules = sorted(m for m in graph.modules if m.split(".")[0] == package)
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m)
                       if i.split(".")[0] == package) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the packages are small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for module in modules:
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", ["tui", "screens", "services", "db"])
def test_no_import_cycles(package: str) -> None:
    # the layers contract forbids imports upwards, so a circle stays inside one package
    assert _cycles(package) == []
