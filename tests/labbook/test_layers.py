"""The house has layers: an app imports only the apps below it, and no two apps import each other.

Lowest first (README "Where things live"):

- ``units``, ``filters``: quantities in the database and in filters;
- ``projects``: Project, Membership, ProjectRecord, roles, the freeze, ``writes.py`` (every record write's steps);
- ``core``: the bases every record app builds on: the API's base serializer, viewset, fields, filters,
  pagination, parser and error handler, the admin's ProjectScopedAdmin, the pages' list helper;
- the record apps: ``files``, ``synthesis``, ``characterization``, ``devices``, ``notebook``;
- ``results`` (result rows), ``jobs`` (the bridge that runs analyses and writes results),
  ``archives`` (freezing, history, .eln);
- the doors over all of them: ``pages``, ``api`` (the router and tokens), ``demo``, ``urls``.

Imports inside functions count (grimp sees every import statement): hiding an upward import in a
function does not make it go away.
"""

from collections import defaultdict, deque

import grimp
import pytest

LAYERS = [
    {"core", "units", "filters"},
    {"projects"},
    {"files"},
    {"synthesis"},
    {"characterization"},
    {"devices"},
    {"notebook"},
    {"tagging", "recipes"},  # tags (any record, by contenttypes) and templates (synthesis, series, entry)
    {"results"},
    {"jobs"},
    {"archives"},
    {"pages", "api", "ops", "demo", "urls", "settings", "wsgi"},
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("labbook", cache_dir=None)  # no .grimp_cache in the checkout


def _app(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _app_imports(graph) -> dict[tuple[str, str], list[str]]:
    """(importer app, imported app) -> 'module:line -> module' for every import across apps."""
    out = defaultdict(list)
    for module in graph.modules:
        a = _app(module)
        for imported in graph.find_modules_directly_imported_by(module):
            b = _app(imported)
            if a and b and a != b and imported.startswith("labbook."):
                for d in graph.get_import_details(importer=module, imported=imported):
                    out[(a, b)].append(f"{module}:{d['line_number']} -> {imported}")
    return out


def test_every_app_has_a_layer(graph):
    apps = {_app(m) for m in graph.modules} - {None}
    assert apps <= set(LEVEL), f"apps without a layer in this test: {sorted(apps - set(LEVEL))}"


def test_no_app_imports_an_app_above_it(graph):
    upward = [
        line
        for (a, b), lines in sorted(_app_imports(graph).items())
        if LEVEL.get(b, -1) > LEVEL.get(a, -1)
        for line in lines
    ]
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_no_import_cycle_between_apps(graph):
    edges = defaultdict(set)
    for a, b in _app_imports(graph):
        edges[a].add(b)
    apps = set(edges) | {b for bs in edges.values() for b in bs}
    indegree = {a: 0 for a in apps}
    for a in edges:
        for b in edges[a]:
            indegree[b] += 1
    queue = deque(a for a in apps if indegree[a] == 0)
    seen = 0
    while queue:
        a = queue.popleft()
        seen += 1
        for b in edges[a]:
            indegree[b] -= 1
            if indegree[b] == 0:
                queue.append(b)
    cyclic = sorted(a for a in apps if indegree[a] > 0)
    assert seen == len(apps), f"apps on an import cycle: {cyclic}"
