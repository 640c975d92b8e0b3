"""The sensitive topics: the names shared by the classifier, the taxonomy blocks and the policy.

The ten topics on which no ad is ever shown follow GDPR art. 9 (special categories of personal
data: health, sex life or sexual orientation, racial or ethnic origin, political opinions,
religious or philosophical beliefs, trade-union membership, genetic and biometric data — folded
into ``health``), art. 10 (criminal convictions and offences), the DSA's ban on profiling minors
(art. 28) and the published ad policies of assistant vendors (no ads near health, mental health
or politics; none to under-18s). ``unsafe`` adds brand safety (war, disasters, terrorism, hate).
"""

from __future__ import annotations

from typing import Final

HEALTH: Final = "health"
MENTAL_HEALTH: Final = "mental_health"
SELF_HARM: Final = "self_harm"
POLITICS: Final = "politics"
RELIGION: Final = "religion"
SEXUALITY: Final = "sexuality"
ETHNICITY: Final = "ethnicity"
TRADE_UNION: Final = "trade_union"
CRIMINAL: Final = "criminal"
MINORS: Final = "minors"

SENSITIVE_TOPICS: Final = (
    HEALTH, MENTAL_HEALTH, SELF_HARM, POLITICS, RELIGION, SEXUALITY, ETHNICITY, TRADE_UNION, CRIMINAL, MINORS,
)
"""A conversation touching any of these never gets an ad."""

UNSAFE: Final = "unsafe"
"""Brand safety: a conversation about war, disasters, terrorism or hate gets no ad either."""
REGULATED: Final = "regulated"
"""Categories that may not be targeted (alcohol, gambling, arms, aimed at children); no effect on a conversation."""

CONVERSATION_BLOCKS: Final = frozenset(SENSITIVE_TOPICS + (UNSAFE,))
TAXONOMY_BLOCKS: Final = frozenset(SENSITIVE_TOPICS + (UNSAFE, REGULATED))
