"""The ``sponsored`` object returned beside (never inside) the model's answer.

Non-streamed: a top-level ``sponsored`` field of the chat completion, next to ``choices``.
Streamed: one extra ``chat.completion.chunk`` with empty ``choices`` and the ``sponsored``
field, sent after the usage chunk and before ``data: [DONE]``. The official ``openai`` SDK
keeps unknown fields, so clients read it from ``completion.model_extra["sponsored"]``; clients
that do not know it ignore it.

The object carries what DSA art. 26(1) asks to be shown for each ad: that it is an ad (the
label ``Sponsored``), on whose behalf it is shown (``advertiser``), who paid for it
(``paid_by``), and the main parameters that chose it (``why``): only the conversation's
keywords and categories; never anything about the person.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from revstream.ads._auction import Sale
from revstream.ads._campaign import check_url
from revstream.ads._taxonomy import TAXONOMY_NAME, Taxonomy

SPONSORED_LABEL = "Sponsored"
SPONSORED_FIELD = "sponsored"
WHY_NOT_PERSONAL = "Chosen from the words of this conversation only: no profile, no history, nothing about you."


def _summary(keywords: tuple[str, ...], category_labels: tuple[str, ...]) -> str:
    parts = []
    if keywords:
        parts.append("this conversation mentions " + ", ".join(f"“{keyword}”" for keyword in keywords))
    if category_labels:
        parts.append("it is about " + "; ".join(category_labels))
    return "Shown because " + " and ".join(parts) + ". " + WHY_NOT_PERSONAL


def sponsored_object(sale: Sale, taxonomy: Taxonomy, impression_id: str, click_url: str) -> dict:
    """The ``sponsored`` value for a sale; ``click_url`` is the signed ``/ads/click/{token}`` URL."""
    campaign = sale.campaign
    labels = tuple(taxonomy.categories[category_id].label for category_id in sale.categories)
    return {
        "label": SPONSORED_LABEL,
        "impression_id": impression_id,
        "campaign_id": campaign.campaign_id,
        "advertiser": campaign.advertiser,
        "paid_by": campaign.payer,
        "title": campaign.title,
        "text": campaign.text,
        "url": check_url(click_url),
        "display_url": urlsplit(campaign.url).hostname,
        "why": {
            "summary": _summary(sale.keywords, labels),
            "keywords": list(sale.keywords),
            "categories": [{"id": category_id, "name": label}
                           for category_id, label in zip(sale.categories, labels, strict=True)],
            "taxonomy": TAXONOMY_NAME,
            "personal_data_used": False,
        },
    }


def with_sponsored(completion: dict, sponsored: dict) -> dict:
    """A copy of a ``chat.completion`` body with the ``sponsored`` field beside ``choices``."""
    return {**completion, SPONSORED_FIELD: sponsored}


def sponsored_chunk(completion_id: str, created_s: int, model: str, sponsored: dict) -> dict:
    """The extra stream chunk: after the usage chunk, before ``[DONE]``; ``choices`` is empty
    (as in the usage chunk), so clients that iterate choices see nothing new."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created_s,
        "model": model,
        "choices": [],
        SPONSORED_FIELD: sponsored,
    }
