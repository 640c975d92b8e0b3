"""A licence's terms as immutable values. Every term carries the `Clause` it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase

# ISO 3166-1 alpha-2 codes of the European Union's member states (27, since 2020-02-01).
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
REGIONS = {"EU": EU_COUNTRIES}


@dataclass(frozen=True, slots=True)
class Clause:
    """Where a term comes from: the document ("licence" or "aup"), its section, a short quote."""

    document: str
    section: str
    quote: str

    def cite(self) -> str:
        where = f"{'AUP' if self.document == 'aup' else 'licence'} §{self.section}"
        return f"{where}: “{self.quote}”" if self.quote else where


@dataclass(frozen=True, slots=True)
class Attribution:
    """Text the licensee must display (the Llama licences: "Built with Llama")."""

    text: str
    clause: Clause


@dataclass(frozen=True, slots=True)
class Notice:
    """The sentence a "Notice" text file shipped with the install must hold."""

    text: str
    clause: Clause


@dataclass(frozen=True, slots=True)
class NamingRule:
    """A derivative model's name must begin with `prefix`."""

    prefix: str
    clause: Clause

    def allows(self, name: str) -> bool:
        return name.casefold().startswith(self.prefix.casefold())


@dataclass(frozen=True, slots=True)
class MauThreshold:
    """Above `users` monthly active users the licensee needs a separate licence, from
    `effective_from` on; `measured_month` ("YYYY-MM") is the month the licence measures them
    in, when it names one (the Llama licences: the month before the release date)."""

    users: int
    effective_from: date
    measured_month: str | None
    clause: Clause


@dataclass(frozen=True, slots=True)
class MultimodalRestriction:
    """The licence's rights are not granted for multimodal models to licensees domiciled in
    `region` (its member countries in `countries`)."""

    region: str
    countries: frozenset[str]
    clause: Clause


@dataclass(frozen=True, slots=True)
class AupCategory:
    """One prohibited use of an acceptable use policy and the hazard categories (S1-S14) that
    classify it; no hazards means no classifier can tell, it stays the host's duty."""

    id: str
    quote: str
    hazards: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AcceptableUse:
    version: str
    url: str
    text_id: str | None
    clause: Clause
    categories: tuple[AupCategory, ...]

    def categories_for(self, hazard: str) -> tuple[AupCategory, ...]:
        return tuple(category for category in self.categories if hazard in category.hazards)


@dataclass(frozen=True, slots=True)
class LicenceText:
    """A licence document shipped with the package: path under `texts/`, source, SHA-256."""

    id: str
    path: str
    source: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Licence:
    """One licence's terms. Llama licences fill every field; a licensor's own (generic) licence
    may carry only thresholds and an attribution."""

    id: str
    name: str
    licensor: str
    version: str
    release_date: date | None
    release_clause: Clause | None = None
    text_id: str | None = None
    agreement_copy: Clause | None = None
    attribution: Attribution | None = None
    notice: Notice | None = None
    derivative_naming: NamingRule | None = None
    mau_thresholds: tuple[MauThreshold, ...] = ()
    acceptable_use: AcceptableUse | None = None
    multimodal_restriction: MultimodalRestriction | None = None
    model_patterns: tuple[str, ...] = ()
    multimodal_patterns: tuple[str, ...] = ()

    def threshold_at(self, day: date) -> MauThreshold | None:
        """The threshold in force on `day`: the latest one effective on or before it."""
        in_force = [t for t in self.mau_thresholds if t.effective_from <= day]
        return max(in_force, key=lambda t: t.effective_from) if in_force else None

    def matches_name(self, name: str) -> str | None:
        """The first model pattern `name` matches (compared in lower case), else None."""
        folded = name.casefold()
        return next((p for p in self.model_patterns if fnmatchcase(folded, p.casefold())), None)

    def is_multimodal_name(self, name: str) -> bool:
        folded = name.casefold()
        return any(fnmatchcase(folded, p.casefold()) for p in self.multimodal_patterns)

    def clauses(self) -> tuple[Clause, ...]:
        """Every clause this licence cites, in a fixed order."""
        found = [self.release_clause, self.agreement_copy]
        found += [term.clause if term else None for term in (self.attribution, self.notice, self.derivative_naming,
                                                             self.acceptable_use, self.multimodal_restriction)]
        found += [threshold.clause for threshold in self.mau_thresholds]
        return tuple(clause for clause in found if clause is not None)


@dataclass(frozen=True, slots=True)
class WeightsEntry:
    """A weights file known by its SHA-256 (lower-case hex) and the licence it is under."""

    sha256: str
    licence_id: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class LicenceMatch:
    """How a served model was tied to a licence: `how` is "declared", "weights_sha256" or
    "name_pattern"; `evidence` is the declaration, the digest or the pattern."""

    licence: Licence
    how: str
    evidence: str
