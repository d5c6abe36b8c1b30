"""The shape of the contacts app, checked on its source: the import graph has no cycle, no module
reaches for another's private names or imports a sibling inside a function to dodge a cycle, and the
contact attribute list is written once (contact_input) with every other list derived from it.

These read the files with `ast` rather than importing them: an import cycle hides behind whichever
module happens to be imported first, the source does not.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "contacts"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in sorted(APP.rglob("*.py"))
        if "migrations" not in path.parts and "management" not in path.parts
    }


MODULES = _modules()


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The contacts modules an import statement loads (a submodule loads its packages too)."""
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        targets = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = _package(name, path)
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        targets = {base} | {f"{base}.{alias.name}" for alias in node.names}
    # The packages the importing module is in are loaded already (they are being imported).
    ancestors = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}
    if path.name == "__init__.py":
        ancestors.add(name)
    loaded: set[str] = set()
    for target in targets:
        while target and target not in ancestors:
            if target in MODULES:
                loaded.add(target)
            target = target.rpartition(".")[0]
    return loaded


def _top_level_imports(node: ast.AST):
    """Imports that run when the module is imported: module body, class bodies, if/try blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            continue
        elif not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _top_level_imports(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in _top_level_imports(tree):
            edges |= _imported(name, path, node)
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path of module names, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_and_package_imports():
    graph = _graph()
    assert "contacts.models" in graph["contacts.services"]
    # A submodule import loads the package first.
    assert {"contacts.segments", "contacts.segments.services"} <= graph["contacts.api.segments"]
    # Tasks import the code they run.
    assert {"contacts.consent", "contacts.imports"} <= graph["contacts.tasks"]


def test_contacts_modules_import_each_other_without_a_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_services_do_not_import_tasks():
    """Tasks import services, not the other way round (services enqueue tasks by name)."""
    graph = _graph()
    assert not any("contacts.tasks" in graph[name] for name in ("contacts.services", "contacts.imports"))


def _function_level_imports(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if name == "contacts.apps" and function.name == "ready":
            continue  # registering the tasks once the models are loaded: Django's place for it
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom) and _imported(name, path, node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.mark.parametrize(
    "name",
    [
        "contacts.services",
        "contacts.tasks",
        "contacts.consent",
        "contacts.consent_policy",
        "contacts.imports",
        "contacts.exports",
        "contacts.bulk",
        "contacts.bulk_sql",
        "contacts.contact_input",
        "contacts.models",
        "contacts.selectors",
        "contacts.admin",
        "contacts.apps",
        *[name for name in MODULES if name.startswith(("contacts.segments", "contacts.api"))],
    ],
)
def test_no_module_imports_a_sibling_inside_a_function(name):
    if name not in MODULES:
        pytest.skip(f"{name} does not exist")
    assert _function_level_imports(MODULES[name], name) == []


def test_no_module_uses_another_modules_private_names():
    """`from .x import _name` and `x._name` across modules of the app."""
    found = []
    module_names = {name.rpartition(".")[2] for name in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _imported(name, path, node):
                found += [
                    f"{name}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in module_names
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{name}: {node.value.id}.{node.attr}")
    assert found == []


# --- The contact attribute list, written once --------------------------------------------------


def test_the_attribute_lists_derive_from_one_table():
    from contacts import contact_input, imports
    from contacts.segments import budget, rules

    attributes = tuple(contact_input.ATTRIBUTE_LABELS)
    assert set(contact_input.CONTACT_ATTRIBUTES) == set(attributes)
    assert contact_input.CONTACT_ATTRIBUTES[:3] == contact_input.IDENTIFIERS
    assert rules.TEXT_ATTRIBUTES is contact_input.TEXT_ATTRIBUTES
    assert set(budget.COLUMN_FIELDS) == {*attributes, "created_at"}
    assert [name for name in imports.TARGET_LABELS if name != "tags"] == list(contact_input.CONTACT_ATTRIBUTES)
    assert {name: imports.TARGET_LABELS[name] for name in attributes} == contact_input.ATTRIBUTE_LABELS


def test_the_api_declares_every_attribute_and_no_other():
    """The input serializers' declared fields are how the schema describes a contact write: the
    attributes among them are exactly the ones contact_input cleans."""
    from contacts.api import serializers
    from contacts.contact_input import CONTACT_ATTRIBUTES

    declared = serializers.ContactInputSerializer().get_fields()
    not_attributes = {"tags", "properties", "fields", "lists", "consent"}
    assert set(declared) - not_attributes == set(CONTACT_ATTRIBUTES)
    output = serializers.ContactSerializer.Meta.fields
    assert set(CONTACT_ATTRIBUTES) <= set(output)


def test_the_admin_form_and_exports_carry_every_attribute():
    from contacts import admin, contact_input
    from contacts import exports as exports_module

    assert set(contact_input.CONTACT_ATTRIBUTES) <= set(admin.ContactAdminForm.Meta.fields)
    assert set(contact_input.CONTACT_ATTRIBUTES) <= set(exports_module.EXPORT_COLUMNS)
