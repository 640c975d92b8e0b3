"""Where each revenue stream's and report's pure code plugs into settlement and the log.

Imported by the host's settlement and by the licensor's verifier, so both apply exactly the
same contributors (`revstream.settlement.register_contributor`) to the same leaves. A new
stream or report adds its line here: its leaf kind's versions in `revstream.leaves`, and
the contributor that turns its leaves into statement lines or sections. Pure: it imports
only pure packages.
"""

from __future__ import annotations

from .leaves import LeafKind
from .settlement import register_contributor

# --- licence (issue 15): monthly active users and acceptable-use counts, a statement section
from .licence import licence_contribution

register_contributor(LeafKind.LICENCE, licence_contribution)
# --- end licence

# --- recitation (issue 16): recitation events per work, a statement section
from .recitation import recitation_contribution

register_contributor(LeafKind.RECITATION, recitation_contribution)
# --- end recitation

# --- messaging (issue 14): delivered message fees, the `messaging` stream
from .messaging._settlement import messaging_contribution

register_contributor(LeafKind.MESSAGE, messaging_contribution)
# --- end messaging

# --- ads (issue 13): impression and click leaves, revenue by model in the `ads` stream
from .ads import click_contribution, impression_contribution

register_contributor(LeafKind.IMPRESSION, impression_contribution)
register_contributor(LeafKind.CLICK, click_contribution)
# --- end ads

FEATURES: tuple[str, ...] = ("licence", "recitation", "messaging", "ads")
"""The streams and reports plugged in, in registration order (each registers itself below)."""
