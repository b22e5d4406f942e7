"""Pregnancy and interaction rows of safety.yaml, attached to each drug, and the allergy/medicine matchers.

Rows in safety.yaml name antibiotic classes ("tetracycline") or drug keys ("tigecycline"); a drug-key row beats a
class row. Allergy text ("PCN - anaphylaxis", "sulpha drugs") maps to allergy groups through `allergy_terms`; a
severe reaction upgrades penicillin/cephalosporin allergy to the whole beta-lactam group.
Try it: python -c "from amr_grpo.guidelines import load_kb; print(load_kb().allergy_conflict('ceftriaxone', ['penicillin (anaphylaxis)']))"
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from amr_grpo.guidelines.model import PREGNANCY_ACTIONS, Drug, Interaction, PregnancyRule
from amr_grpo.guidelines.text import words


def attach_safety(c: Any, drugs: list[Drug], classes: set[str], preg_rows: list, inter_rows: list) -> list[Drug]:
    """Return the drugs with their pregnancy rule and interactions filled in from safety.yaml (c: loader._Ctx)."""
    keys = {d.key for d in drugs}

    def targets(row: Any, field: str) -> tuple[str, ...]:
        names = c.strings(row, field, required=True)
        for nm in names:
            if nm not in keys and nm not in classes:
                raise c.fail(f"{field} names {nm!r}, which is neither a drug key nor a drug class")
        return names

    preg: dict[str, tuple[int, PregnancyRule]] = {}
    for n, row in enumerate(preg_rows, 1):
        c.entry = f"pregnancy rule {n}"
        names = targets(row, "applies_to")
        rule = PregnancyRule(c.choice(c.get(row, "action"), PREGNANCY_ACTIONS, "action"), c.get(row, "note"), c.source(row))
        for d in drugs:
            for nm in names:
                rank = 2 if nm == d.key else 1 if nm == d.drug_class else 0
                if not rank:
                    continue
                if d.key in preg and preg[d.key][0] == rank:
                    raise c.fail(f"drug {d.key!r} gets two pregnancy rules at the same level")
                if d.key not in preg or preg[d.key][0] < rank:
                    preg[d.key] = (rank, rule)

    inter: dict[str, list[Interaction]] = {d.key: [] for d in drugs}
    for n, row in enumerate(inter_rows, 1):
        c.entry = f"interaction {n}"
        names = targets(row, "drugs")
        action = c.choice(c.get(row, "action"), ("avoid", "monitor"), "action")
        it = Interaction(tuple(w.lower() for w in c.strings(row, "with", required=True)), c.get(row, "effect"),
                         action, c.source(row))
        for d in drugs:
            if d.key in names or d.drug_class in names:
                inter[d.key].append(it)
    c.entry = ""
    return [replace(d, pregnancy=preg.get(d.key, (0, None))[1], interactions=tuple(inter[d.key])) for d in drugs]


def phrase(text: str) -> str:
    """' w1 w2 ... ' (padded) so that a phrase test is a substring test on whole words."""
    return " " + " ".join(words(text)) + " "


class AllergyMatcher:
    """Allergy strings -> allergy groups (and drug keys named outright)."""

    NONE = (" nkda ", " nka ", " no known ", " none ", " nil ")

    def __init__(self, allergy_terms: dict[str, tuple[str, ...]], severe_words: tuple[str, ...],
                 upgrades: dict[str, str]):
        self.terms = [(phrase(t), group) for group, ts in allergy_terms.items() for t in (group, *ts)]
        self.severe = [phrase(w) for w in severe_words]
        self.upgrades = upgrades

    def groups(self, allergy: str, named_drugs: list[Drug]) -> set[str]:
        p = phrase(allergy)
        if any(n in p for n in self.NONE) and not named_drugs:
            return set()
        found = {g for t, g in self.terms if t in p}
        for d in named_drugs:  # "amoxicillin allergy" -> the drug itself and its first (own-class) group
            found.add(d.key)
            if d.allergy_groups:
                found.add(d.allergy_groups[0])
        if any(w in p for w in self.severe):
            found |= {self.upgrades[g] for g in list(found) if g in self.upgrades}
        return found
