"""The package's layers: no module imports from a layer above its own, and the public API loads
without TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import tfreuse

PACKAGE = Path(tfreuse.__file__).parent
# What each layer may import besides itself: the report reads records through the core alone, so
# it needs neither the engine that writes them nor the probes.
MAY_IMPORT = {
    "core": set(),
    "probes": {"core"},
    "report": {"core"},
    "engine": {"core", "probes"},
    "tools": {"core", "probes"},
    "scenarios": {"core", "probes", "engine"},
    "commands": {"core", "probes", "report", "engine", "tools", "scenarios"},
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "tfreuse" and parts[1] in MAY_IMPORT else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_every_module_sits_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert loose == []
    assert folders == set(MAY_IMPORT)


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        source = path.relative_to(PACKAGE).parts[0]
        if source not in MAY_IMPORT:
            continue
        for module in _imports(path):
            target = _layer(module)
            if target is not None and target != source and target not in MAY_IMPORT[source]:
                wrong.append(f"{path.relative_to(PACKAGE)} -> {module}")
    assert wrong == []


def test_the_public_api_names_resolve_without_importing_tensorflow():
    code = ("import sys, tfreuse\n"
            "missing = [n for n in tfreuse.__all__ if getattr(tfreuse, n, None) is None]\n"
            "print(missing, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["[]", "False", "False"]


def test_an_unknown_name_is_an_attribute_error():
    try:
        tfreuse.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("tfreuse.no_such_name resolved")


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{node.module}.{alias.name}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfreuse")
            for alias in node.names if alias.name.startswith("_")]


def test_no_module_imports_another_modules_private_names():
    root = PACKAGE.parents[1]
    files = [*PACKAGE.rglob("*.py"), *(root / "benchmarks").glob("*.py"), *(root / "scripts").glob("*.py")]
    found = [f"{path.relative_to(root)}: {name}" for path in files for name in _private_imports(path)]
    assert found == []


def test_tests_reach_the_engine_through_its_public_names():
    tests = Path(__file__).parent
    found = [f"{path.name}: {name}" for path in tests.glob("*.py") for name in _private_imports(path)
             if name.startswith("tfreuse.engine.")]
    assert found == []


def test_python_dash_m_tfreuse_is_the_command(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfreuse", "scenarios", "no_such_module.py"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2, "tfreuse scenarios: error: no_such_module.py: no such file or folder")
