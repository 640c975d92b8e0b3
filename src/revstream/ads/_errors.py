"""Errors of the ads core.

Hierarchy::

    AdsError                    base of every failure in revstream.ads
    ├── AdsValueError           bad input: a campaign, a bid, an age band, a policy value
    ├── TaxonomyError           the shipped taxonomy or lexicon is missing, altered or malformed
    ├── ClassifierError         an upstream classifier's reply that cannot be read
    ├── ClickTokenError         a click token that is malformed or not signed by this host
    └── AdsLeafError            a log leaf of kind impression/click that is malformed or unknown

``AdsValueError`` and ``AdsLeafError`` also derive from ``ValueError`` so generic callers that
catch that still work. Expected outcomes that are not errors (no ad for this request, a click
that is a replay) are values, not exceptions: see ``Eligibility``, ``NoAd`` and ``ClickVerdict``.
"""

from __future__ import annotations


class AdsError(Exception):
    """Base of every failure in the ads core."""


class AdsValueError(AdsError, ValueError):
    """A value outside what the ads core accepts (the message says which and why)."""


class TaxonomyError(AdsError):
    """The shipped taxonomy, keyword table or lexicon is missing, altered or malformed."""


class ClassifierError(AdsError):
    """An upstream classifier answered something that is not a verdict we can read."""


class ClickTokenError(AdsError):
    """A click token that is malformed, too long, or whose signature does not verify."""


class AdsLeafError(AdsError, ValueError):
    """A transparency-log leaf of an ads kind with a missing field, a wrong type or an unknown version."""
