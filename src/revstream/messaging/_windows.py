"""Windows of a conversation: when a business may message a contact for free, or at all.

Two windows, as the WhatsApp Business Platform defines them since 1 July 2025 (see
/work/notes/whatsapp-digest.md):

* **Customer-service window**: every inbound message from the contact opens it, or
  renews it, for 24 hours from that message: ``[inbound, inbound + 24 h)``. While it is
  open the business may send free-form (service) messages, free, and utility templates,
  free. Outside it, only templates may be sent.
* **Free entry window**: an inbound message that arrives through an entry point (a
  click-to-WhatsApp ad or a Facebook Page call-to-action button; on webchat, an ad
  click of the ads feature) opens a customer-service window as usual; if the business
  replies within those 24 hours, its reply opens a 72-hour free entry window
  ``[reply, reply + 72 h)`` in which every message the business sends is free. Free-form
  messages still need the customer-service window open (after 24 h: templates only,
  still free). A new entry point does not open a second free entry window while one is
  open.

Ends are exclusive: at exactly ``inbound + 24 h`` the service window is closed. Events
may be processed out of order (webhook retries), so a late inbound never shortens a
window: the end is the maximum of what was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from revstream.messaging._units import ENTRY_REPLY_US, ENTRY_WINDOW_US, SERVICE_WINDOW_US, require_int

WINDOW_FREE_ENTRY: Final = "free_entry"
WINDOW_CUSTOMER_SERVICE: Final = "customer_service"
WINDOW_CLOSED: Final = "closed"
WINDOW_NAMES: Final = (WINDOW_FREE_ENTRY, WINDOW_CUSTOMER_SERVICE, WINDOW_CLOSED)


@dataclass(frozen=True, slots=True)
class Windows:
    """What a conversation's windows are, as ends and starts in epoch microseconds.

    ``service_until_us``: end of the customer-service window (None: never opened).
    ``entry_inbound_us`` / ``entry_reply_until_us``: an entry-point inbound message still
    waiting for the business's first reply, and the deadline of that reply.
    ``entry_from_us`` / ``entry_until_us``: the free entry window, once opened."""

    service_until_us: int | None = None
    entry_inbound_us: int | None = None
    entry_reply_until_us: int | None = None
    entry_from_us: int | None = None
    entry_until_us: int | None = None


@dataclass(frozen=True, slots=True)
class WindowState:
    """Which windows are open at one instant."""

    service_open: bool
    entry_open: bool

    @property
    def name(self) -> str:
        """``free_entry`` when the free entry window is open, else ``customer_service`` or
        ``closed``: the window a message is priced in."""
        if self.entry_open:
            return WINDOW_FREE_ENTRY
        return WINDOW_CUSTOMER_SERVICE if self.service_open else WINDOW_CLOSED


def _entry_open(windows: Windows, time_us: int) -> bool:
    return (windows.entry_from_us is not None and windows.entry_until_us is not None
            and windows.entry_from_us <= time_us < windows.entry_until_us)


def on_inbound(windows: Windows, time_us: int, *, entry_point: bool = False) -> Windows:
    """The windows after an inbound message at ``time_us`` (``entry_point``: it came
    through an ad click or a page button)."""
    require_int(time_us, "inbound time_us")
    service_until = time_us + SERVICE_WINDOW_US
    if windows.service_until_us is not None:
        service_until = max(service_until, windows.service_until_us)
    updated = replace(windows, service_until_us=service_until)
    if entry_point and not _entry_open(windows, time_us):
        reply_until = time_us + ENTRY_REPLY_US
        if windows.entry_reply_until_us is not None and windows.entry_reply_until_us > reply_until:
            reply_until = windows.entry_reply_until_us
        first = time_us if windows.entry_inbound_us is None else min(time_us, windows.entry_inbound_us)
        updated = replace(updated, entry_inbound_us=first, entry_reply_until_us=reply_until)
    return updated


def on_outbound(windows: Windows, time_us: int) -> Windows:
    """The windows after the business sends a message at ``time_us``: the first reply to a
    waiting entry-point inbound, within its 24 hours, opens the 72-hour free entry window."""
    require_int(time_us, "outbound time_us")
    waiting = windows.entry_inbound_us is not None and windows.entry_reply_until_us is not None
    if not waiting or _entry_open(windows, time_us):
        return windows
    if windows.entry_inbound_us <= time_us < windows.entry_reply_until_us:
        return replace(windows, entry_inbound_us=None, entry_reply_until_us=None,
                       entry_from_us=time_us, entry_until_us=time_us + ENTRY_WINDOW_US)
    if time_us >= windows.entry_reply_until_us:  # the deadline passed: nothing to open any more
        return replace(windows, entry_inbound_us=None, entry_reply_until_us=None)
    return windows


def window_at(windows: Windows, time_us: int) -> WindowState:
    """The windows open at ``time_us`` (ends exclusive)."""
    require_int(time_us, "time_us")
    service_open = windows.service_until_us is not None and time_us < windows.service_until_us
    return WindowState(service_open=service_open, entry_open=_entry_open(windows, time_us))


def windows_for_send(windows: Windows, time_us: int) -> tuple[WindowState, Windows]:
    """The window a message sent at ``time_us`` is priced in, and the windows to keep if the
    send is accepted: the reply that opens a free entry window is itself inside it."""
    after = on_outbound(windows, time_us)
    return window_at(after, time_us), after
