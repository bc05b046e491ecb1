"""Run the protocol's decode tool, with or without Home Assistant installed.

    python custom_components/flexscada/protocol decode ...     # needs numpy and cryptography
    python -m custom_components.flexscada.protocol decode ...  # imports Home Assistant too

`python -m` imports the parent packages first, and the integration's `__init__` imports Home
Assistant. Run as a directory, this file loads the protocol package alone, as the top-level
package STANDALONE_PACKAGE, so only numpy and cryptography are needed (a HACS install works too:
`python /config/custom_components/flexscada/protocol decode ...`). The tool itself is `cli`.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
import sys
from types import ModuleType

STANDALONE_PACKAGE = "flexscada_q5_protocol"


def load_standalone(directory: Path) -> ModuleType:
    """Import the protocol package in `directory` as STANDALONE_PACKAGE, without its parents."""
    spec = importlib.util.spec_from_file_location(
        STANDALONE_PACKAGE, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[STANDALONE_PACKAGE] = package
    spec.loader.exec_module(package)
    return package


def run() -> int:
    """Run the decode tool from the package this file belongs to; return its exit status."""
    if __package__:  # python -m custom_components.flexscada.protocol: the package is imported
        cli = importlib.import_module(f"{__package__}.cli")
        status: int = cli.main()
        return status
    # `python path/to/protocol`: sys.path[0] is this directory, where the sibling modules would
    # shadow any top-level module of the same name (config, crypto, errors...): drop it first.
    here = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == here:
        del sys.path[0]
    load_standalone(here)
    cli = importlib.import_module(f"{STANDALONE_PACKAGE}.cli")
    status = cli.main(prog=f"python {sys.argv[0]}")
    return status


if (
    __name__ == "__main__"
):  # pragma: no cover  (run by the subprocess tests, out of coverage's sight)
    sys.exit(run())
