"""Store errors.

    StoreError            the database cannot be reached or answered unexpectedly
    ├── NotFound          a named row does not exist
    └── Conflict          a unique name or key is taken
"""


class StoreError(Exception):
    """The store failed; the message says which operation."""


class NotFound(StoreError):
    """A named row does not exist."""


class Conflict(StoreError):
    """A unique value is already taken."""
