"""No module leans on another's private names, ours or a library's, outside a short, reasoned list.

A library's `_name` (Django's `connection._prepare_cursor`, DRF's `request._request`, redis-py's and
kombu's internals) can change in any release without notice; where the project must use one, it
does so in one module that says why and has tests of its own, so an upgrade breaks in one place.

Read from the source with `ast` over every app package (PACKAGES). What counts as a use:

- `from x import _name` (any module, ours or a library's): a private name imported across modules;
- `thing._name` or `getattr(thing, "_name")`/`setattr`/`hasattr`, where `thing` is not the object's
  own (`self`, `cls`, `super()`).

Not counted: dunders; Django's documented `_meta`; the namedtuple API (`_replace`, `_asdict`,
`_fields`, `_make`); an attribute the module itself assigns on objects it handles (a stash between
two hooks of one class, such as catalog/admin.py's `_facts_contacts`), which is the module's own
name. Everything else must be in ALLOWED, by file and name, with its reason.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("salloq", "contacts", "catalog", "events", "campaigns", "flows", "connector", "bench")
PUBLIC_UNDERSCORED = {"_meta", "_replace", "_asdict", "_fields", "_make"}
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}

ALLOWED = {
    # The one module that speaks to Redis below Django's cache API (the gateway's pipelined calls
    # share the cache's connection pool and serializer); tests/core/test_gateway_redis.py covers it.
    ("salloq/core/redis_access.py", "_cache"): "Django's RedisCache client",
    ("salloq/core/redis_access.py", "_get_connection_pool"): "the cache client's pool",
    ("salloq/core/redis_access.py", "_serializer"): "the cache's pickle serializer",
    # The embedded broker subclasses kombu's virtual transport, whose extension points are private.
    ("salloq/core/broker.py", "_delete"): "kombu virtual.Channel's queue deletion hook",
    # drf-spectacular's documented way for an OpenApiSerializerExtension to build the default
    # schema it then amends (its docs' customization example calls it).
    ("contacts/api/serializers.py", "_map_serializer"): "drf-spectacular extension hook",
}


def _source_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def _own(owner: ast.expr) -> bool:
    if isinstance(owner, ast.Name):
        return owner.id in {"self", "cls"}
    return isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super"


def _assigned_names(tree: ast.AST) -> set[str]:
    """Private attributes the module sets on other objects: its own stash, not a library's."""
    return {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute) and not _own(target.value)
    }


def private_uses(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(name, line, what) for each use of another object's or module's private name."""
    own_stash = _assigned_names(tree)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            uses += [
                (alias.name, node.lineno, f"from {node.module} import {alias.name}")
                for alias in node.names
                if _private(alias.name)
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and not _own(node.value):
            if node.attr not in own_stash:
                uses.append((node.attr, node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and not _own(node.args[0])
            and node.args[1].value not in own_stash
        ):
            uses.append((node.args[1].value, node.lineno, ast.unparse(node)))
    return uses


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from bench.api_root import _on_alarm", ["_on_alarm"]),
        ("from django.db import connection\nconnection._prepare_cursor(c)", ["_prepare_cursor"]),
        ("def authenticate(self, request):\n    verify(request._request)", ["_request"]),
        ("client = cache.client.get_client()\nclient.connection_pool._lock", ["_lock"]),
        ("getattr(backend, '_cache')", ["_cache"]),
        ("self._cache\ncls._registry\nsuper()._setup()", []),
        ("Model._meta.get_field('x')\npoint._replace(x=1)\nobj.__class__", []),
        ("obj._stash = 1\nuse(obj._stash, getattr(obj, '_stash', None))", []),
    ],
)
def test_the_scan_finds_private_names_and_only_them(source, found):
    assert [name for name, _, _ in private_uses(ast.parse(source))] == found


def test_no_module_uses_a_private_name_of_another_outside_the_allowed_list():
    files = list(_source_files())
    assert {path.split("/")[0] for path, _ in files} == set(PACKAGES)  # every package was read
    offenders = [
        f"{path}:{line}: {what}"
        for path, tree in files
        for name, line, what in private_uses(tree)
        if (path, name) not in ALLOWED
    ]
    assert not offenders, "private names used outside their module:\n" + "\n".join(offenders)


def test_every_allowed_use_still_exists():
    """A stale entry would let a new use through unnoticed: drop it once the use is gone."""
    used = {(path, name) for path, tree in _source_files() for name, _, _ in private_uses(tree)}
    assert set(ALLOWED) <= used, set(ALLOWED) - used
