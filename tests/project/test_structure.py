"""The package's shape: no import cycle, migrations current."""

import ast
from pathlib import Path

import pytest
from django.core.management import call_command

PACKAGE = Path(__file__).resolve().parents[2] / "django_imcallback"


def _imports(path: Path) -> set[str]:
    """Package modules ``path`` imports, at module level or inside functions."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = f"{base}.{node.module}" if node.level and node.module else node.module or base
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name.removesuffix(".__init__") for name in found}


@pytest.mark.django_db(transaction=True)
def test_the_package_has_no_import_cycle():
    modules = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts
    }
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    # A module imports its package's __init__ too.
    for name in graph:
        parent = name.rpartition(".")[0]
        if parent in modules and parent != "django_imcallback":
            graph[name].add(parent)

    def cycle_from(start, node, seen):
        for following in graph[node]:
            if following == start:
                return [*seen, following]
            if following not in seen:
                found = cycle_from(start, following, [*seen, following])
                if found:
                    return found
        return None

    cycles = [cycle for name in graph if (cycle := cycle_from(name, name, [name]))]
    assert cycles == []
    assert "django_imcallback.dispatch" not in modules  # the ambiguous name is gone


@pytest.mark.django_db
def test_the_migrations_match_the_models():
    """A model change without its migration would break every host's next migrate."""
    try:
        call_command("makemigrations", "django_imcallback", check=True, dry_run=True, verbosity=0)
    except SystemExit:
        pytest.fail("django_imcallback's models have changes without a migration")
