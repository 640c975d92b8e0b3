"""The errors of `revstream.licence`, one hierarchy:

- `LicenceError`: the base; nothing else is raised on purpose.
  - `RegistryError`: the registry or a declared licence is malformed (the message names the key).
  - `SettingsError`: the `[licence]` configuration section is wrong (the message names the key).
  - `SketchError`: a monthly-active-user state cannot be read or merged (wrong month, bytes).
  - `LeafError`: a `licence` transparency-log leaf is missing a field, has a wrong type or an
    unknown version.
  - `ClassifierError`: an acceptable-use classifier could not answer (upstream down, an answer
    not in the Llama Guard output format).
"""

from __future__ import annotations


class LicenceError(Exception):
    """Base of every error this package raises."""


class RegistryError(LicenceError):
    """The licence registry, or a licence declared in the configuration, is malformed."""


class SettingsError(LicenceError):
    """The `[licence]` configuration section is wrong; the message names the key."""


class SketchError(LicenceError):
    """A monthly-active-user state cannot be read, or two cannot be merged."""


class LeafError(LicenceError):
    """A `licence` leaf is malformed or of an unknown version."""


class ClassifierError(LicenceError):
    """An acceptable-use classifier could not give a verdict."""
