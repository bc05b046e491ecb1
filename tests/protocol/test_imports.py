"""The protocol package must stay free of Home Assistant (it is also used by the simulator)."""

from __future__ import annotations

import ast
from pathlib import Path
import subprocess
import sys

from custom_components.flexscada import protocol

PACKAGE = Path(protocol.__file__).parent
ALLOWED_THIRD_PARTY = {"numpy", "cryptography"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Return (relative level, module) for every import statement in a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_every_module_imports_only_stdlib_numpy_cryptography_or_siblings() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 9
    for path in modules:
        for level, module in _imports(path):
            top = module.split(".")[0]
            assert not module.startswith("homeassistant"), (path.name, module)
            # A relative import must stay inside protocol/: the parent package imports HA.
            assert level in (0, 1), (path.name, level, module)
            if level == 0:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    path.name,
                    module,
                )


def test_package_loads_without_home_assistant() -> None:
    """Load protocol/ as a top-level package in a fresh interpreter: no HA module gets imported."""
    init, where = str(PACKAGE / "__init__.py"), str(PACKAGE)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('q5proto', {init!r},"
        f" submodule_search_locations=[{where!r}])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['q5proto'] = module\n"
        "spec.loader.exec_module(module)\n"
        "import q5proto.__main__, q5proto.cli\n"
        "assert not [m for m in sys.modules if m.startswith('homeassistant')], 'HA imported'\n"
        "print(len(module.__all__))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 30


def test_all_names_exist() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
