"""Message templates: name, language, category, body with ``{{1}}``..``{{n}}`` parameters,
review states and category history.

A template's category and review state are histories, not fields: the platform reviews a
template (``pending`` -> ``approved`` or ``rejected``; later ``paused`` or ``disabled``)
and may change its category after review (the ``template_category_update`` webhook). A
change is recorded with its time and applies from then on: a message is priced by the
category in force at its send time, so messages sent before a re-categorization keep
their price and messages after it get the new one. Only an ``approved`` template may be
sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from revstream.messaging._errors import MessagingValueError, TemplateParameterError
from revstream.messaging._units import require_int

CATEGORY_MARKETING: Final = "marketing"
CATEGORY_UTILITY: Final = "utility"
CATEGORY_AUTHENTICATION: Final = "authentication"
TEMPLATE_CATEGORIES: Final = (CATEGORY_MARKETING, CATEGORY_UTILITY, CATEGORY_AUTHENTICATION)
REVIEW_PENDING: Final = "pending"
REVIEW_APPROVED: Final = "approved"
REVIEW_REJECTED: Final = "rejected"
REVIEW_PAUSED: Final = "paused"
REVIEW_DISABLED: Final = "disabled"
REVIEW_STATES: Final = (REVIEW_PENDING, REVIEW_APPROVED, REVIEW_REJECTED, REVIEW_PAUSED, REVIEW_DISABLED)
template_body_chars_max: Final = 1_024
"""The platform's limit for a template body."""
template_parameters_max: Final = 100
template_parameter_chars_max: Final = 1_024
template_history_max: Final = 256
"""Category and review changes kept per template."""

_NAME: Final = re.compile(r"[a-z0-9_]{1,512}", re.ASCII)
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2,4})?", re.ASCII)
_PLACEHOLDER: Final = re.compile(r"\{\{([0-9]{1,3})\}\}", re.ASCII)


@dataclass(frozen=True, slots=True)
class TemplateChange:
    """From ``time_us`` on, the template's ``category`` and/or ``review_state`` is this."""

    time_us: int
    category: str | None = None
    review_state: str | None = None

    def __post_init__(self) -> None:
        require_int(self.time_us, "template change time_us")
        if self.category is not None and self.category not in TEMPLATE_CATEGORIES:
            raise MessagingValueError(f"template category must be one of {', '.join(TEMPLATE_CATEGORIES)}, "
                                      f"got {self.category!r}")
        if self.review_state is not None and self.review_state not in REVIEW_STATES:
            raise MessagingValueError(f"review state must be one of {', '.join(REVIEW_STATES)}, got {self.review_state!r}")
        if self.category is None and self.review_state is None:
            raise MessagingValueError("a template change sets a category, a review state or both")


def parameter_count(body: str) -> int:
    """How many parameters the body takes: its placeholders must be exactly ``{{1}}``..``{{n}}``
    (each at least once, numbered from 1 without gaps)."""
    numbers = {int(number) for number in _PLACEHOLDER.findall(body)}
    if numbers != set(range(1, len(numbers) + 1)):
        raise MessagingValueError(f"template placeholders must be {{{{1}}}}..{{{{n}}}} without gaps, got {sorted(numbers)}")
    return len(numbers)


@dataclass(frozen=True, slots=True)
class Template:
    """A template of one business. ``changes`` is its history, oldest first; the first
    change sets both the requested category and the first review state."""

    name: str
    language: str
    body: str
    changes: tuple[TemplateChange, ...]
    template_id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or _NAME.fullmatch(self.name) is None:
            raise MessagingValueError(f"template name must be lower-case a-z 0-9 _ (1-512), got {self.name!r}")
        if not isinstance(self.language, str) or _LANGUAGE.fullmatch(self.language) is None:
            raise MessagingValueError(f"template language must be a code such as en or en_US, got {self.language!r}")
        if not isinstance(self.body, str) or not self.body or len(self.body) > template_body_chars_max:
            raise MessagingValueError(f"template body must be 1-{template_body_chars_max} characters")
        if parameter_count(self.body) > template_parameters_max:
            raise MessagingValueError(f"a template takes at most {template_parameters_max} parameters")
        if isinstance(self.changes, list):
            object.__setattr__(self, "changes", tuple(self.changes))
        self._check_changes()

    def _check_changes(self) -> None:
        if not self.changes or len(self.changes) > template_history_max:
            raise MessagingValueError(f"a template has 1-{template_history_max} changes")
        first = self.changes[0]
        if first.category is None or first.review_state is None:
            raise MessagingValueError("a template's first change sets its category and its review state")
        for earlier, later in zip(self.changes, self.changes[1:]):
            if later.time_us < earlier.time_us:
                raise MessagingValueError("template changes must be in time order")

    def _latest(self, field: str, time_us: int) -> str | None:
        value = None
        for change in self.changes:
            if change.time_us > time_us:
                break
            value = getattr(change, field) or value
        return value

    def category_at(self, time_us: int) -> str:
        """The category in force at ``time_us`` (the first category before the template existed)."""
        return self._latest("category", time_us) or self.changes[0].category

    def review_state_at(self, time_us: int) -> str:
        """The review state at ``time_us`` (``pending`` before the template existed)."""
        return self._latest("review_state", time_us) or REVIEW_PENDING

    def with_change(self, change: TemplateChange) -> Template:
        """This template with one more change (a review outcome or a re-categorization)."""
        if change.time_us < self.changes[-1].time_us:
            raise MessagingValueError("a template change cannot predate the template's latest change")
        return Template(self.name, self.language, self.body, self.changes + (change,), self.template_id)

    @property
    def parameters(self) -> int:
        return parameter_count(self.body)

    def render(self, parameters: tuple[str, ...]) -> str:
        """The body with ``{{n}}`` replaced by ``parameters[n-1]`` (webchat shows this text)."""
        check_parameters(self, parameters)
        return _PLACEHOLDER.sub(lambda match: parameters[int(match.group(1)) - 1], self.body)


def draft_template(name: str, language: str, category: str, body: str, time_us: int, template_id: str = "") -> Template:
    """A new template submitted for review at ``time_us`` (state ``pending``)."""
    return Template(name, language, body, (TemplateChange(time_us, category, REVIEW_PENDING),), template_id)


def check_parameters(template: Template, parameters: tuple[str, ...]) -> tuple[str, ...]:
    """Return ``parameters`` if they fit the template: one non-empty single-line string per
    placeholder (the platform refuses new lines and tabs in parameters)."""
    if not isinstance(parameters, tuple):
        raise TemplateParameterError("template parameters must be a tuple of strings")
    expected = template.parameters
    if len(parameters) != expected:
        raise TemplateParameterError(f"template {template.name!r} takes {expected} parameters, got {len(parameters)}")
    for index, value in enumerate(parameters, start=1):
        if not isinstance(value, str) or not value.strip():
            raise TemplateParameterError(f"template parameter {index} must be a non-empty string")
        if len(value) > template_parameter_chars_max or "\n" in value or "\t" in value:
            raise TemplateParameterError(f"template parameter {index} must be one line of at most "
                                         f"{template_parameter_chars_max} characters without tabs")
    return parameters
