"""The `[recitation]` section of the configuration (issue 16): the host's recitation guard.

    [recitation]
    enabled = true             # check every completion against the registered works
    limit_words = 30           # the longest span of a work a response may carry (a work may set its own)
    index_dir = "recitation"   # the window index (relative to the home); replicas share one

Parsed by `load_config` into `Config.recitation`; `recitation_settings(config)` gives the
defaults for a `Config` built without a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..recitation import LIMIT_WORDS_DEFAULT, WINDOW_WORDS_DEFAULT, RecitationError, check_limit

INDEX_DIR_DEFAULT = "recitation"


@dataclass(frozen=True, slots=True)
class RecitationSettings:
    index_dir: Path
    enabled: bool = True
    limit_words: int = LIMIT_WORDS_DEFAULT


def recitation_section(raw: Any, home: Path) -> RecitationSettings:
    from ._model import ConfigError  # _model names this type: imported here, not at the top

    if not isinstance(raw, Mapping):
        raise ConfigError("recitation: expected a table")
    unknown = sorted(set(raw) - {"enabled", "limit_words", "index_dir"})
    if unknown:
        raise ConfigError(f"recitation: unknown key {unknown[0]!r} (known: enabled, limit_words, index_dir)")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("recitation.enabled: expected true or false")
    limit = raw.get("limit_words", LIMIT_WORDS_DEFAULT)
    try:
        check_limit(limit, WINDOW_WORDS_DEFAULT)
    except RecitationError as error:
        raise ConfigError(f"recitation.limit_words: {error}") from None
    index_dir = raw.get("index_dir", INDEX_DIR_DEFAULT)
    if not isinstance(index_dir, str) or not index_dir:
        raise ConfigError("recitation.index_dir: expected a path")
    return RecitationSettings(home / Path(index_dir).expanduser(), enabled, limit)


def recitation_settings(config) -> RecitationSettings:
    """The install's recitation settings: `config.recitation`, or the defaults."""
    found = getattr(config, "recitation", None)
    return found if found is not None else recitation_section({}, config.home)
