"""The served models' licences as the gateway and `licence status` use them: each served name's
licence and the attribution it asks for, and the lowest monthly-active-user threshold in force.
Pure: models come in as values (anything with `name`, `aliases`, `upstream_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from ._check import ServedModel, match_model
from ._registry import Registry
from ._settings import LicenceSettings


@dataclass(frozen=True, slots=True)
class ModelLicence:
    """The licence a served model is under, and the attribution it asks for (None: none)."""

    licence_id: str
    licence_name: str
    attribution: str | None


def declared_models(models: Iterable, settings: LicenceSettings) -> tuple[ServedModel, ...]:
    """Configured models (`name`, `aliases`, `upstream_model`) with what `[[licence.models]]`
    declares about them; no weights file is hashed (`revstream licence check` does that)."""
    served = []
    for model in models:
        names = (model.name, *model.aliases)
        declared = settings.declaration(names)
        served.append(ServedModel(
            name=model.name, aliases=tuple(model.aliases), upstream_name=model.upstream_model,
            declared_sha256=declared.weights_sha256 if declared else None,
            declared_licence=declared.licence_id if declared else None,
            multimodal=bool(declared and declared.multimodal), derivative=bool(declared and declared.derivative)))
    return tuple(served)


def model_licences(registry: Registry, models: Sequence[ServedModel]) -> dict[str, ModelLicence]:
    """Each served name (aliases too) whose licence the registry knows, and that licence."""
    found = {}
    for model in models:
        match = match_model(registry, model)
        if match is None:
            continue
        licence = match.licence
        entry = ModelLicence(licence.id, licence.name, licence.attribution.text if licence.attribution else None)
        for name in (model.name, *model.aliases):
            found[name] = entry
    return found


def threshold_in_force(registry: Registry, licence_ids: Iterable[str], day: date) -> tuple[int, str] | None:
    """(users, licence id) of the lowest monthly-active-user threshold in force on `day` among
    these licences; None when none has one."""
    thresholds = []
    for licence_id in sorted(set(licence_ids)):
        threshold = registry.licence(licence_id).threshold_at(day)
        if threshold is not None:
            thresholds.append((threshold.users, licence_id))
    return min(thresholds) if thresholds else None
