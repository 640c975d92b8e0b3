"""Acceptable use: a classifier's verdict and the host's policy per hazard category.

Actions, from mildest: `log` (the request goes on; it is counted in its category), `flag` (it
goes on, and the usage record and response say it was flagged), `refuse` (the gateway answers
400 `content_policy_violation` before any backend is called). A verdict naming several
categories takes the strictest of their actions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._hazards import HAZARD_CODES

ACTIONS = ("log", "flag", "refuse")
ALLOW = "allow"
_STRICTNESS = {ALLOW: 0, "log": 1, "flag": 2, "refuse": 3}
REFUSAL_CODE = "content_policy_violation"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a classifier found: the hazard categories (sorted S1..S14), none when safe."""

    categories: tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.categories

    @staticmethod
    def of(codes) -> "Verdict":
        found = set(codes)
        return Verdict(tuple(code for code in HAZARD_CODES if code in found))


SAFE = Verdict()


@dataclass(frozen=True, slots=True)
class AcceptableUsePolicy:
    """The host's action per category; `default` for every category not named."""

    default: str = "log"
    per_category: tuple[tuple[str, str], ...] = ()

    def action_for(self, category: str) -> str:
        return dict(self.per_category).get(category, self.default)


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    categories: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.action == "refuse"

    @property
    def flagged(self) -> bool:
        return self.action == "flag"


def decide(policy: AcceptableUsePolicy, verdict: Verdict) -> Decision:
    """The strictest action among the verdict's categories; `allow` when it is safe."""
    if verdict.safe:
        return Decision(ALLOW)
    action = max((policy.action_for(category) for category in verdict.categories), key=_STRICTNESS.__getitem__)
    return Decision(action, verdict.categories)


def refusal_error(decision: Decision, param: str = "messages") -> dict:
    """The OpenAI error body for a refused request (status 400); names categories, never content."""
    return {"error": {
        "message": "This request was refused under the host's acceptable use policy "
                   f"(hazard categories: {', '.join(decision.categories)}).",
        "type": "invalid_request_error",
        "param": param,
        "code": REFUSAL_CODE,
    }}
