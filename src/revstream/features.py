"""Where each revenue stream's and report's pure code plugs into settlement and the log.

Imported by the host's settlement and by the licensor's verifier, so both apply exactly the
same contributors (`revstream.settlement.register_contributor`) to the same leaves. A new
stream or report adds its line here: its leaf kind's versions in `revstream.leaves`, and
the contributor that turns its leaves into statement lines or sections. Pure: it imports
only pure packages.
"""

from __future__ import annotations

FEATURES: tuple[str, ...] = ()
"""The streams and reports plugged in, in registration order (each registers itself below)."""
