"""The guideline knowledge base: fast lookups over the YAML data (syndromes, drugs, renal bands, safety rules).

`load_kb()` reads and validates the YAML once (cached) and precomputes every index, because the rules judge calls
these lookups thousands of times a second: names go through dicts of normalised keys, and `find_drugs` runs one
compiled regex. Research tool, not for clinical use.
Try it: python -c "from amr_grpo.guidelines import load_kb; kb = load_kb(); print(kb.drug('pip-taz').key, kb.syndrome('CAP').key)"
"""

from __future__ import annotations

import re
from functools import lru_cache

from amr_grpo.guidelines.loader import KBError, RawKB, load_raw
from amr_grpo.guidelines.model import DoNotUse, Drug, Interaction, PregnancyRule, RenalBand, Source, Syndrome
from amr_grpo.guidelines.safety import AllergyMatcher, phrase
from amr_grpo.guidelines.text import bag, key, words

_SETTINGS = {
    "OPD": ("opd", "outpatient", "out patient", "clinic", "ambulatory", "primary care", "community", "home"),
    "ward": ("ward", "inpatient", "in patient", "admitted", "hospitalised", "hospitalized", "ipd", "hospital"),
    "ICU": ("icu", "intensive care", "critical care", "hdu", "micu", "sicu", "ventilated"),
}


def normalise_setting(setting: str | None) -> str | None:
    """'Outpatient clinic' -> 'OPD', 'medical ICU' -> 'ICU', 'admitted' -> 'ward'; unknown -> None."""
    if not setting:
        return None
    p = phrase(setting)
    for canon in ("ICU", "OPD", "ward"):  # ICU first: "ICU of a hospital" is ICU
        if any(phrase(w) in p for w in _SETTINGS[canon]):
            return canon
    return None


# 'penicillin' followed by a dose in units ("penicillin 4 MU", "penicillin 2.4 million units"): benzylpenicillin.
_DOSED_PENICILLIN = re.compile(r"(?<![a-z])penicillin(?=\s+(?:iv\s+|im\s+)?\d[\d.,]*\s*(?:mu|miu|million|lakh|lac|units?)\b)",
                               re.IGNORECASE)
_SEP = "\x00"  # stands for "any run of punctuation/space, or none" between the words of a name


def _trie_regex(names: set[str]) -> str:
    """One regex for many names, as a character trie (shared prefixes are tried once: fast on long texts).

    Words of a name may be joined by any punctuation/space or none, so 'co-amoxiclav' also matches 'coamoxiclav'.
    """
    trie: dict = {}
    for name in names:
        words_ = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
        node = trie
        for ch in _SEP.join(words_):
            node = node.setdefault(ch, {})
        node[""] = {}  # end of a name

    def render(node: dict) -> str:
        alts, optional = [], "" in node
        for ch in sorted(k for k in node if k):
            head = r"[\W_]*" if ch == _SEP else re.escape(ch)
            alts.append(head + render(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        # longest match first: try to continue the name, fall back to ending here (only at a word boundary)
        return f"(?:{body})?" if optional else body

    return render(trie)


class KnowledgeBase:
    """Lookups over the validated knowledge base. Build with load_kb()."""

    def __init__(self, raw: RawKB):
        self.raw = raw
        self.syndromes: tuple[Syndrome, ...] = raw.syndromes
        self.drugs: tuple[Drug, ...] = raw.drugs
        self.guidelines: dict[str, str] = raw.guidelines
        self.stewardship_rules = raw.stewardship
        self._syn_by_key = {s.key: s for s in raw.syndromes}
        self._drug_by_key = {d.key: d for d in raw.drugs}
        self._members: dict[str, list[Syndrome]] = {}
        for s in raw.syndromes:
            self._members.setdefault(s.group, []).append(s)
        self._index_syndromes()
        self._index_drugs()
        self._allergy = AllergyMatcher(raw.allergy_terms, raw.severe_words, raw.severe_upgrades)
        self._class_members: dict[str, set[str]] = {}
        for d in raw.drugs:
            self._class_members.setdefault(d.drug_class, set()).add(d.key)
        self._medicine_classes = {k: tuple(phrase(w) for w in (k, *v)) for k, v in raw.medicine_classes.items()}
        self._citations = self._collect_citations()

    # ---- indexes -------------------------------------------------------------------------------------------
    def _index_syndromes(self) -> None:
        self._syn_index: dict[str, tuple[str, str]] = {}  # normalised name -> ("s", key) or ("g", group)
        owner: dict[str, str] = {}

        def add(name: str, target: tuple[str, str], who: str) -> None:
            for k in {key(name), bag(name)}:
                if not k:
                    continue
                if k in self._syn_index and self._syn_index[k] != target:
                    raise KBError(f"syndromes.yaml: synonym {name!r} of {who} is already used by {owner[k]}")
                self._syn_index[k], owner[k] = target, who

        for s in self.syndromes:
            for name in (s.key, s.name, *s.synonyms):
                add(name, ("s", s.key), f"syndrome {s.key!r}")
        for g, names in self.raw.groups.items():
            for name in names:
                add(name, ("g", g), f"group {g!r}")
        self._syn_phrases = sorted(
            ((frozenset(words(n)), t) for n, t in self._iter_syn_names() if words(n)),
            key=lambda x: -len(x[0]),
        )

    def _iter_syn_names(self):
        for s in self.syndromes:
            for name in (s.name, *s.synonyms):
                yield name, ("s", s.key)
        for g, names in self.raw.groups.items():
            for name in names:
                yield name, ("g", g)

    def _index_drugs(self) -> None:
        self._drug_index: dict[str, str] = {}
        names = set()
        for d in self.drugs:
            for name in (d.key, d.name, *d.synonyms):
                k = re.sub(r"[^a-z0-9]+", "", name.lower())
                if k in self._drug_index and self._drug_index[k] != d.key:
                    raise KBError(f"drugs.yaml: name {name!r} of {d.key!r} is already used by {self._drug_index[k]!r}")
                self._drug_index[k] = d.key
                names.add(name)
        self._drug_re = re.compile(rf"(?<![a-z0-9])(?:{_trie_regex(names)})(?![a-z])", re.IGNORECASE)  # "Amoxicillin500mg" too

    def _collect_citations(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        sources: list[Source] = [s.source for s in self.syndromes]
        for s in self.syndromes:
            sources += [d.source for d in s.do_not_use]
        for d in self.drugs:
            sources += [d.source, *(b.source for b in d.renal), *(i.source for i in d.interactions)]
            sources += [x for x in (d.pregnancy.source if d.pregnancy else None, d.aware_source) if x]
        sources += [src for _, _, src in self.stewardship_rules]
        for src in sources:
            if src.confidence != "GK":  # general knowledge is not a citation
                seen.setdefault(src.cite(), None)
        return tuple(seen)

    # ---- syndromes -----------------------------------------------------------------------------------------
    def _pick(self, target: tuple[str, str], setting: str | None) -> Syndrome:
        kind, name = target
        if kind == "s":
            return self._syn_by_key[name]
        members = self._members[name]
        want = normalise_setting(setting)
        return next((s for s in members if want and s.setting == want), members[0])

    def syndrome(self, name: str, setting: str | None = None) -> Syndrome | None:
        """A syndrome by key, name or synonym ('CAP', 'pneumonia, community-acquired'); None if unknown.

        A generic name shared by several settings (CAP -> OPD/ward/ICU entries) picks the entry of `setting`
        when given, else the group's first entry.
        """
        if not name:
            return None
        target = self._syn_index.get(key(name)) or self._syn_index.get(bag(name))
        return self._pick(target, setting) if target else None

    def search_syndromes(self, text: str, setting: str | None = None, limit: int = 3) -> list[Syndrome]:
        """Best-effort: syndromes whose name or a synonym appears (all its words) in free text, most specific first."""
        exact = self.syndrome(text, setting)
        if exact:
            return [exact]
        have = set(words(text))
        out: list[Syndrome] = []
        for ws, target in self._syn_phrases:
            if ws <= have:
                s = self._pick(target, setting)
                if s not in out:
                    out.append(s)
                if len(out) >= limit:
                    break
        return out

    def group_members(self, group: str) -> tuple[Syndrome, ...]:
        return tuple(self._members.get(group, ()))

    def do_not_use(self, syndrome_key: str, drug_key: str) -> DoNotUse | None:
        """The syndrome's do-not-use rule that covers this drug (by key or class), if any."""
        s, d = self._syn_by_key.get(syndrome_key), self._drug_by_key.get(drug_key)
        if not s or not d:
            return None
        return next((r for r in s.do_not_use if d.key in r.drugs or d.drug_class in r.drugs), None)

    # ---- drugs ---------------------------------------------------------------------------------------------
    def drug(self, name: str) -> Drug | None:
        """A drug by key, name, abbreviation or brand-style name ('pip-taz', 'Augmentin', 'TMP-SMX'); None if unknown."""
        if not name:
            return None
        k = self._drug_index.get(re.sub(r"[^a-z0-9]+", "", name.lower()))
        if k is None and name.lower().endswith("s"):  # plurals: "carbapenems" is not a drug, "aminoglycosides" neither
            k = self._drug_index.get(re.sub(r"[^a-z0-9]+", "", name.lower()[:-1]))
        return self._drug_by_key.get(k) if k else None

    def find_drug_spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, drug key) for every drug mention in text, left to right. Plain 'penicillin' names a class
        ('allergic to penicillin'); it is benzylpenicillin only where a dose follows ('IV penicillin 4 MU q4h')."""
        spans = [
            (m.start(), m.end(), self._drug_index[re.sub(r"[^a-z0-9]+", "", m.group(0).lower())])
            for m in self._drug_re.finditer(text)
        ]
        if "enicillin" in text and "benzylpenicillin" in self._drug_by_key:
            taken = [(a, b) for a, b, _ in spans]
            spans += [(m.start(), m.end(), "benzylpenicillin") for m in _DOSED_PENICILLIN.finditer(text)
                      if not any(a <= m.start() < b for a, b in taken)]
            spans.sort()
        return spans

    def find_drugs(self, text: str) -> list[str]:
        """Drug keys mentioned in free text, in order of first mention, each once."""
        if not text:
            return []
        return list(dict.fromkeys(k for _, _, k in self.find_drug_spans(text)))

    def drugs_in_class(self, drug_class: str) -> frozenset[str]:
        return frozenset(self._class_members.get(drug_class, ()))

    def renal_band(self, drug_key: str, crcl: float | None, route: str | None = None) -> RenalBand | None:
        """The renal band containing crcl (min inclusive, max exclusive); None without data or without crcl.

        Drugs whose PO and IV bands differ pick the band of `route` (default: the first block in drugs.yaml).
        """
        d = self._drug_by_key.get(drug_key)
        if d is None or crcl is None or not d.renal:
            return None
        routes = [b.route for b in d.renal]
        want = routes[0]
        if route and routes[0] is not None:  # route-specific bands: another route has no data
            want = route.upper()
            if want not in routes:
                return None
        return next((b for b in d.renal if b.route == want and (b.crcl_min is None or crcl >= b.crcl_min)
                     and (b.crcl_max is None or crcl < b.crcl_max)), None)

    def allergy_conflict(self, drug_key: str, allergies: list[str]) -> str | None:
        """Why this drug conflicts with one of the listed allergies, or None."""
        d = self._drug_by_key.get(drug_key)
        if d is None:
            return None
        own = {d.key, *d.allergy_groups}
        for allergy in allergies or []:
            named = [self._drug_by_key[k] for k in self.find_drugs(allergy)]
            hit = own & self._allergy.groups(allergy, named)
            if hit:
                why = sorted(hit, key=lambda g: g == d.key)[0]
                what = ("that drug" if why == d.key else f"cross-reactive with {why}" if why in self._drug_by_key
                        else f"a {why}")
                return f"{d.name} conflicts with the allergy '{allergy.strip()}': it is {what}"
        return None

    def pregnancy_rule(self, drug_key: str) -> PregnancyRule | None:
        d = self._drug_by_key.get(drug_key)
        return d.pregnancy if d else None

    def interactions(self, drug_key: str, medicines: list[str]) -> list[Interaction]:
        """The drug's interactions with any of the patient's current medicines (names, classes, antibiotics)."""
        d = self._drug_by_key.get(drug_key)
        if d is None or not medicines:
            return []
        meds = [(phrase(m), set(self.find_drugs(m))) for m in medicines if m]
        out = []
        for it in d.interactions:
            if any(self._interacts(term, p, ks) for term in it.with_drugs for p, ks in meds):
                out.append(it)
        return out

    def _interacts(self, term: str, med_phrase: str, med_drugs: set[str]) -> bool:
        if term in self._medicine_classes:
            return any(w in med_phrase for w in self._medicine_classes[term])
        if term in self._class_members:
            return bool(med_drugs & self._class_members[term])
        return phrase(term) in med_phrase or term in med_drugs

    def citations(self) -> tuple[str, ...]:
        """Every distinct citation string of the knowledge base ('NCDC/ICMR ... v2.0 (2025), section 5.1, p. 39')."""
        return self._citations


@lru_cache(maxsize=1)
def load_kb() -> KnowledgeBase:
    """The knowledge base, read and validated once per process."""
    return KnowledgeBase(load_raw())
