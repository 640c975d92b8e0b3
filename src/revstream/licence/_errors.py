"""The errors of `revstream.licence`, one hierarchy:

- `LicenceError`: the base; nothing else is raised on purpose.
  - `RegistryError`: the registry or a declared licence is malformed (the message names the key),
    or a licence text on disk is not the recorded one (its SHA-256 differs).
    - `TextNotInstalled`: a licence text is not where the host keeps them (revstream does not
      ship the Llama texts; they come with the models).
  - `SettingsError`: the `[licence]` configuration section is wrong (the message names the key).
  - `SketchError`: a monthly-active-user state cannot be read or merged (wrong month, bytes).
  - `LeafError`: a `licence` transparency-log leaf is missing a field, has a wrong type or an
    unknown version (also a `revstream.leaves.MalformedLeafError`, so a verifier treats it as
    any unreadable leaf).
  - `ClassifierError`: an acceptable-use classifier could not answer (upstream down, an answer
    not in the Llama Guard output format).
"""

from __future__ import annotations

from ..leaves import MalformedLeafError


class LicenceError(Exception):
    """Base of every error this package raises."""


class RegistryError(LicenceError):
    """The licence registry, or a licence declared in the configuration, is malformed."""


class TextNotInstalled(RegistryError):
    """A licence text is not installed where the host keeps the texts."""


class SettingsError(LicenceError):
    """The `[licence]` configuration section is wrong; the message names the key."""


class SketchError(LicenceError):
    """A monthly-active-user state cannot be read, or two cannot be merged."""


class LeafError(LicenceError, MalformedLeafError):
    """A `licence` leaf is malformed or of an unknown version."""


class ClassifierError(LicenceError):
    """An acceptable-use classifier could not give a verdict."""
