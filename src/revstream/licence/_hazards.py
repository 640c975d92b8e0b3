"""The hazard taxonomy the Llama Guard 3 models classify against: the 13 hazards of the
MLCommons AI Safety taxonomy plus S14, code interpreter abuse (Llama Guard 3 model card,
"Hazard Taxonomy and Policy")."""

from __future__ import annotations

from typing import NamedTuple


class Hazard(NamedTuple):
    code: str
    name: str


HAZARDS = (
    Hazard("S1", "Violent Crimes"),
    Hazard("S2", "Non-Violent Crimes"),
    Hazard("S3", "Sex-Related Crimes"),
    Hazard("S4", "Child Sexual Exploitation"),
    Hazard("S5", "Defamation"),
    Hazard("S6", "Specialized Advice"),
    Hazard("S7", "Privacy"),
    Hazard("S8", "Intellectual Property"),
    Hazard("S9", "Indiscriminate Weapons"),
    Hazard("S10", "Hate"),
    Hazard("S11", "Suicide & Self-Harm"),
    Hazard("S12", "Sexual Content"),
    Hazard("S13", "Elections"),
    Hazard("S14", "Code Interpreter Abuse"),
)
HAZARD_CODES = tuple(hazard.code for hazard in HAZARDS)
