"""Sensor fusion: a settled weight change and the vision evidence around it -> a basket
change, or a question for the shopper. Never a silent guess.

How it decides (see docs/basket.md for worked examples):

* Hypotheses. For a gain: "n units of product p" for every catalogue product (n = 1..8),
  "a weighed lot of produce p", pairs of two evidenced products placed together, and
  "something not in the catalogue". For a loss: units or weighed lots *from the basket*
  (one kind or two together), and "nothing from the basket" (a hand on the rim).
* Prior. Each product starts from 1, doubled in the cart's zone; a barcode read multiplies
  every other product by ``OFF_BARCODE``, a PLU the shopper entered by ``OFF_ENTRY``, and the
  recognizer each product by ``RECOGNIZER_FLOOR`` + its calibrated probability (one it did
  not name: a share of what it left unsaid, at least the floor). For a loss, barcode reads
  and "removed" recognitions multiply a basket line's prior.
* Likelihood. The change under the hypothesis: Normal(delta; sum n*mean, sqrt(sum n*sd^2 +
  scale noise^2)); a weighed lot of produce is a mixture over how many pieces are in the bag.
* Decision. The posterior's best hypothesis is committed only when its probability is at
  least ``commit_probability``, the weight is plausible for it (|z| <= 3.5), and (for a
  gain) every product in it was identified by a barcode, a PLU entry or a confident
  recognizer, and the recognizer is not confident of a product it leaves out (a barcode of
  one carton shown while another goes in). A bag of produce sold by weight, whose weight
  cannot tell one produce from another, is committed on the recognizer's word alone at
  ``recognizer_produce_score`` (no barcode, no other entry, a plausible weight, none of it in
  the basket yet). Otherwise a question lists the likeliest candidates first, ranked on the
  calibrated belief (``RANKING_FLOOR``, not the charging margin): ``added`` when something
  identified it but not decisively, ``unidentified`` when nothing did, ``removed`` for an
  ambiguous loss.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dashcart.config import FusionSection
from dashcart.core.appearance import look_similarity
from dashcart.core.catalogue import Catalogue, Product
from dashcart.snapshot import OWN_THINGS

SQRT_2PI = math.sqrt(2.0 * math.pi)
MAX_UNITS = 8
MAX_PAIR_UNITS = 3
MAX_CANDIDATES = 12           # what a question may offer (the screen shows fewer)
ZONE_FACTOR = 2.0             # products of the zone the cart is in are likelier
OFF_BARCODE = 1e-4            # a product other than the ones whose barcodes were read
OFF_ENTRY = 1e-5              # a product other than the one the shopper entered
# A product the recognizer did not name (calibrated shares add to it). The fitted calibration
# would give it about 1e-5 for a clear crop; this margin is what keeps the recognizer's sure
# mistakes asked rather than charged. At 2e-4 (tried 2026-12-06, docs/basket.md (h)) produce
# sold by weight was charged on 40 % of events instead of 4 %, and a satsuma that both
# cameras took for a lemon was charged as two lemons.
RECOGNIZER_FLOOR = 2e-3
# ... and what a question's candidates are ranked on: the calibrated belief, with no margin.
# The margin is for charging; in a ranking it let every unit product whose sharp weight fits
# outrank produce the recognizer was sure of (a bag of pears 0.95 sure behind three 1 kg
# yoghurts it never named), and the shopper had to look past the first three.
RANKING_FLOOR = 1e-5
OTHER_PRIOR = 2e-3            # an item that is not in the catalogue at all (per product)
OTHER_DENSITY = 1.0 / 5000.0  # ... spread over 0-5 kg
PAIR_FACTOR = 0.1
MISSING_BARCODE_FACTOR = 0.05  # a hypothesis that leaves out a product whose barcode was read
MAX_Z = 3.5
REMOVED_FLOOR = 0.02
COUNT_MISMATCH = 0.01         # the shopper said how many; another count needs strong weight evidence
PLACE_FLOOR = 0.1              # a basket item away from where something left (10x at most)
REMOVED_BARCODE_FACTOR = 100.0
# Re-identification: the crop of what left against each item's look when it went in. Below
# LOOK_PLAIN similarity it says nothing (an item half hidden under a later one, or turned
# over, looks unlike itself); from there the item's odds rise to LOOK_MATCH times at
# LOOK_SURE. Measured with bench/fit_recognizer_calibration.py on 640x480 generated trips of
# calib photos (355 removals seen, 2,745 pairs with other products) for the 224 px model and
# crops cut inside the changed region: other products reached 0.83 at most, none 0.85; the
# item's own look is at or above 0.90 for 46 % of removals and 0.95 for 32 %. Look-alike
# cartons (two juices of one brand) are what come close, and they weigh the same, so a look
# may only decide above what they reach (with the wider crops before, others reached 0.89).
LOOK_PLAIN = 0.90
LOOK_SURE = 0.95
LOOK_MATCH = 100.0
# An unnamed item (an open question's) counts as seen leaving when the recognizer gives what
# left at least this probability of being one of the products the question suggested; so does
# a basket line, of its product, where the shopper's own things could be what left.
UNNAMED_SEEN_SHARE = 0.5
UNNAMED_SHARES = (1.0, 1 / 2, 1 / 3, 2 / 3, 1 / 4, 3 / 4)   # of an unnamed placement that may leave
# A recognizer candidate at least this likely makes a question "which of these did you put
# in", though below fusion.recognizer_min_score it cannot be charged without asking.
SUGGEST_SCORE = 0.5
UNIT_PRIOR = {1: 1.0, 2: 0.3, 3: 0.15, 4: 0.08}


def unit_prior(n: int) -> float:
    return UNIT_PRIOR.get(n, 0.03)


def normal_pdf(x: float, mean: float, sd: float) -> float:
    z = (x - mean) / sd
    return math.exp(-0.5 * z * z) / (sd * SQRT_2PI)


_DEFAULTS = FusionSection()  # the config's defaults are the only copy of these numbers


@dataclass(frozen=True)
class FusionParams:
    commit_probability: float = _DEFAULTS.commit_probability
    scale_noise_g: float = _DEFAULTS.scale_noise_g
    min_change_g: float = _DEFAULTS.min_change_g
    recognizer_min_score: float = _DEFAULTS.recognizer_min_score
    recognizer_veto_score: float = _DEFAULTS.recognizer_veto_score
    recognizer_produce_score: float = _DEFAULTS.recognizer_produce_score

    @classmethod
    def from_config(cls, section: object) -> FusionParams:
        return cls(**{name: getattr(section, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Evidence:
    """What the cameras and the shopper said around one settled change."""

    barcodes: tuple[str, ...] = ()                          # catalogue codes read (GTIN-13)
    added: Mapping[str, float] = field(default_factory=dict)    # recognizer: code -> score, appeared
    removed: Mapping[str, float] = field(default_factory=dict)  # recognizer: code -> score, left
    entered: str | None = None                              # a PLU/code the shopper entered for this placement
    entered_qty: int = 0                                    # ... and how many pieces they said (0: not said)
    # a loss: the product the shopper tapped "remove" for before lifting it out: their word,
    # as likely as a barcode read, but not the cameras' (see Fusion._loss)
    tapped: str | None = None
    zone: str = ""
    removed_place: tuple[str, int, int, int, int] | None = None   # camera and box of what left
    removed_look: str | None = None                               # how what left looked (dashcart.core.appearance)


@dataclass(frozen=True)
class Part:
    code: str
    qty: int
    weight_g: float               # grams this part accounts for (measured share for weighed lots)
    item_id: int | None = None    # for a loss of a weighed lot: which placement
    question_id: int | None = None  # for a loss: the unnamed item of this open question left


@dataclass(frozen=True)
class Hypothesis:
    parts: tuple[Part, ...]       # empty: "something else" (not in the catalogue / not from the basket)
    probability: float
    z: float = 0.0                # how far the change is from what the hypothesis expects, in sds
    identified: bool = False      # every part has identification evidence (gains)


@dataclass(frozen=True)
class Decision:
    """``action``: add | remove | ask | ignore. ``question``: added | unidentified | removed."""

    action: str
    delta_g: float
    ranked: tuple[Hypothesis, ...] = ()
    question: str = ""
    candidates: tuple[Hypothesis, ...] = ()   # what a question offers, best first (see Fusion._candidates)
    # products the cameras were sure of (``recognizer_veto_score``): an answer leaving them all
    # out is the shopper's word against the cameras (the controller journals it for staff)
    sure: tuple[str, ...] = ()
    # A loss: what the cameras saw leave, as keys (code, item_id, question_id) of candidates'
    # parts; whether the shopper's own things fit it, or may have left in the place of a unit of
    # it (``OWN_THINGS`` is then a candidate); and a removal committed on the shopper's "remove"
    # tap alone where their own things could be what left (their word, not the cameras': the
    # controller notes it for staff).
    seen: frozenset[tuple[str, int | None, int | None]] = frozenset()
    own_fits: bool = False
    unverified: bool = False

    @property
    def best(self) -> Hypothesis | None:
        return self.ranked[0] if self.ranked else None


@dataclass(frozen=True)
class BasketEntry:
    """What fusion needs to know about the basket for a loss."""

    code: str
    qty: int
    weight_g: float | None
    item_id: int
    by_weight: bool
    place: tuple[str, int, int, int, int] | None = None   # camera and box where it was put down
    look: str | None = None                                # how it looked there (dashcart.core.appearance)


@dataclass(frozen=True)
class OpenGain:
    """Something that went in unnamed (an open ``added``/``unidentified`` question, or a
    ``remove_unknown`` the shopper was told to take out): a loss may be it leaving, but only
    the cameras (or the shopper) can say so, never a weight that happens to match."""

    question_id: int
    weight_g: float
    candidates: Mapping[str, float] = field(default_factory=dict)   # what the question suggested: code -> score
    place: tuple[str, int, int, int, int] | None = None
    look: str | None = None
    told_out: bool = False        # the screen asks the shopper to take it out (remove_unknown)


def _noise(params: FusionParams, delta: float) -> float:
    return _noise_g(params.scale_noise_g, delta)


def _noise_g(base_g: float, delta: float) -> float:
    # Load cells are specified as a fixed noise plus a fraction of the load.
    return math.hypot(base_g, 0.002 * abs(delta))


def _units_likelihood(delta: float, parts: Iterable[tuple[Product, int]], noise: float) -> tuple[float, float]:
    mean = 0.0
    var = noise * noise
    for product, n in parts:
        mean += n * product.unit_weight_g
        var += n * product.unit_weight_sd_g ** 2
    sd = math.sqrt(var)
    return normal_pdf(delta, mean, sd), (delta - mean) / sd


def _lot_likelihood(delta: float, product: Product, noise: float) -> tuple[float, float]:
    """A bag of loose produce sold by weight: how many pieces is unknown, so mix over them.
    The count's prior falls as 1/n, a log-uniform prior on the bag's weight (which has no
    scale of its own): a flat one over bags of up to 6 kg makes a 500 g bag as unlikely as a
    5 kg one, and any carton of about that weight then outranks the produce the cameras saw."""
    mu, sd = product.unit_weight_g, max(product.unit_weight_sd_g, 0.05 * product.unit_weight_g)
    top = max(1, min(60, math.ceil(6000.0 / mu)))
    total = norm = 0.0
    best_z = math.inf
    for n in range(1, top + 1):
        s = math.sqrt(n * sd * sd + noise * noise)
        total += normal_pdf(delta, n * mu, s) / n
        norm += 1.0 / n
        best_z = min(best_z, abs(delta - n * mu) / s)
    return total / norm, best_z


class Fusion:
    """Decides each settled change against the catalogue; pure, deterministic, no clock."""

    def __init__(self, catalogue: Catalogue, params: FusionParams | None = None):
        self.catalogue = catalogue
        self.params = params or FusionParams()
        self._products = list(catalogue)

    def decide(self, delta_g: float, evidence: Evidence, basket: Iterable[BasketEntry] = (),
               unnamed: Iterable[OpenGain] = (), own_g: float = 0.0) -> Decision:
        """``basket``: what is on the bill (a loss is taken from it; produce it holds is not
        named for a gain on the recognizer alone, see :meth:`_produce_named`). ``unnamed``:
        items in the basket that open questions are about (a loss may be one of them leaving;
        for a gain, produce they suggested counts as in the basket). ``own_g``: what the
        basket holds of the shopper's own (the bags at the sign-in, never billed), which a loss
        may be too."""
        if abs(delta_g) < self.params.min_change_g:
            return Decision("ignore", delta_g)
        if delta_g > 0:
            return self._gain(delta_g, evidence, {entry.code for entry in basket}
                              | {code for gain in unnamed for code in gain.candidates})
        return self._loss(delta_g, evidence, list(basket), list(unnamed), own_g)

    # -- gains ----------------------------------------------------------------------------

    def _priors(self, evidence: Evidence, least: float) -> tuple[dict[str, float], set[str], float]:
        """Prior x evidence for each product (unnormalized), the identified products, and the
        same for "something not in the catalogue". Independent evidence multiplies. ``least``:
        the recognizer's floor (RECOGNIZER_FLOOR to charge, RANKING_FLOOR to rank a question)."""
        identified: set[str] = set()
        priors = {p.code: ZONE_FACTOR if evidence.zone and p.zone == evidence.zone else 1.0 for p in self._products}
        other = OTHER_PRIOR * len(priors)
        scanned = {c for c in evidence.barcodes if c in priors}
        if scanned:
            identified |= scanned
            for code in priors:
                if code not in scanned:
                    priors[code] *= OFF_BARCODE
            other *= OFF_BARCODE
        if evidence.entered in priors:
            identified.add(evidence.entered)
            for code in priors:
                if code != evidence.entered:
                    priors[code] *= OFF_ENTRY
            other *= OFF_ENTRY
        if evidence.added:
            # What the calibrated recognizer leaves unsaid (the chance that the truth is none of
            # its candidates: large for a crop unlike the whole gallery) is spread over the
            # products it did not name, so that weight and zone can rank them.
            unnamed = [code for code in priors if code not in evidence.added]
            rest = max(0.0, 1.0 - sum(evidence.added.values()))
            floor = max(least, rest / max(len(unnamed) + 1, 1))
            for code in priors:
                named = evidence.added.get(code)
                priors[code] *= floor if named is None else least + named
            other *= floor
            identified |= {c for c, score in evidence.added.items()
                           if c in priors and score >= self.params.recognizer_min_score}
        return priors, identified, other

    def _gain(self, delta: float, evidence: Evidence, in_basket: set[str] | frozenset[str] = frozenset()) -> Decision:
        noise = _noise(self.params, delta)
        scored, identified = self._gain_hypotheses(delta, evidence, noise, RECOGNIZER_FLOOR)
        ranked = self._rank(scored, identified)
        named = self._produce_named(delta, evidence, noise, ranked, in_basket)
        if named is not None:
            return Decision("add", delta, (named, *(h for h in ranked if h.parts != named.parts)))
        best = ranked[0]
        if best.parts and best.identified and best.probability >= self.params.commit_probability and abs(best.z) <= MAX_Z \
                and not self._sure(evidence.added, best):
            return Decision("add", delta, ranked)
        # "What did you put in?" when the cameras named something, even too weakly to be
        # charged on its own; "we could not tell" when nothing did
        suggested = identified or any(score >= SUGGEST_SCORE for score in evidence.added.values())
        kind = "added" if suggested else "unidentified"
        ranking, _ = self._gain_hypotheses(delta, evidence, noise, RANKING_FLOOR)
        return Decision("ask", delta, ranked, question=kind, candidates=self._candidates(ranking, identified),
                        sure=self._sure(evidence.added))

    def _gain_hypotheses(self, delta: float, evidence: Evidence, noise: float,
                         least: float) -> tuple[list[tuple[float, tuple[Part, ...], float]], set[str]]:
        """Every hypothesis for a gain, scored (unnormalized posterior, parts, z), and the
        identified products."""
        priors, identified, other = self._priors(evidence, least)
        scanned = {c for c in evidence.barcodes if c in priors}
        scored: list[tuple[float, tuple[Part, ...], float]] = []

        def missing_factor(codes: set[str]) -> float:
            return MISSING_BARCODE_FACTOR ** len(scanned - codes)

        for p in self._products:
            prior = priors[p.code] * missing_factor({p.code})
            if p.by_weight:
                like, z = _lot_likelihood(delta, p, noise)
                scored.append((prior * like, (Part(p.code, 1, delta),), z))
                continue
            counted = evidence.entered_qty if p.code == evidence.entered else 0
            for n in range(1, max(MAX_UNITS, counted) + 1):
                like, z = _units_likelihood(delta, ((p, n),), noise)
                if like > 0.0:
                    nprior = (1.0 if n == counted else COUNT_MISMATCH) if counted else unit_prior(n)
                    scored.append((prior * nprior * like, (Part(p.code, n, delta),), z))
        # Two different products placed in one go: only among products something pointed at.
        evidenced = sorted(c for c in identified if not self.catalogue[c].by_weight)
        for i, a in enumerate(evidenced):
            for b in evidenced[i + 1:]:
                pa, pb = self.catalogue[a], self.catalogue[b]
                # a pair explains one placement with two products: the second costs its own prior
                prior = priors[a] * priors[b] / len(priors) * PAIR_FACTOR * missing_factor({a, b})
                for na in range(1, MAX_PAIR_UNITS + 1):
                    for nb in range(1, MAX_PAIR_UNITS + 1):
                        like, z = _units_likelihood(delta, ((pa, na), (pb, nb)), noise)
                        if like > 0.0:
                            wa = na * pa.unit_weight_g
                            share = delta * wa / (wa + nb * pb.unit_weight_g)
                            scored.append((prior * unit_prior(na) * unit_prior(nb) * like,
                                           (Part(a, na, share), Part(b, nb, delta - share)), z))
        scored.append((other * OTHER_DENSITY, (), 0.0))
        return scored, identified

    def _produce_named(self, delta: float, evidence: Evidence, noise: float,
                       ranked: tuple[Hypothesis, ...], in_basket: set[str] | frozenset[str]) -> Hypothesis | None:
        """A bag of produce sold by weight that the recognizer alone names
        (``recognizer_produce_score``). Its weight says nothing about which produce it is, only
        that a bag of it is plausible, so the posterior, where every unit product whose weight
        fits competes with the diffuse bag, is not what decides it. Not when a barcode was read or
        another code entered (the posterior weighs those), nor for produce already in the basket
        (``in_basket``: on the bill, or suggested by an open question about something that went
        in unnamed): the cameras' crop may show that bag, pushed aside as something else went
        in, and nothing else would say so."""
        if any(code in self.catalogue for code in evidence.barcodes) or not evidence.added:
            return None
        code, share = max(evidence.added.items(), key=lambda item: item[1])
        if share < self.params.recognizer_produce_score or code not in self.catalogue \
                or evidence.entered not in (None, code):
            return None
        if code in in_basket:
            # A bag of satsumas on the bill, pushed aside as a 1,062 g juice went in: the crop
            # showed the bag, 0.98 sure, and the juice was charged as 1,062 g of satsumas. A
            # second bag of the same produce is left to the posterior (mostly a question), as
            # every bag was before this rule.
            return None
        product = self.catalogue[code]
        if not product.by_weight:
            return None
        _, z = _lot_likelihood(delta, product, noise)
        # A second product the cameras named would be weighed as this produce. (Each camera
        # recognizes one crop, the biggest change, whose calibrated shares add up to at most 1,
        # and the cameras are averaged: so the others come to at most 1 - share and this stops
        # a bag only where the scores are not shares, recognizer_temperature 0.)
        others = sum(score for other, score in evidence.added.items() if other != code)
        if z > MAX_Z or others >= SUGGEST_SCORE:
            return None
        bag = (Part(code, 1, delta),)
        # its posterior, for the record: the recognizer decided, not it (it is mostly below
        # commit_probability)
        posterior = next((h.probability for h in ranked if h.parts == bag), 0.0)
        return Hypothesis(bag, posterior, z, True)

    def _sure(self, seen: Mapping[str, float], best: Hypothesis | None = None) -> tuple[str, ...]:
        """The products the cameras are sure of (``recognizer_veto_score``) that ``best`` leaves
        out (all of them without ``best``). A commit leaving one out is asked instead: one
        barcode shown while another product goes in, a PLU typed for cheaper produce than what
        is bagged, one item out and another in as one change, a "remove" tap on the wrong item.
        The barcode, the entry or the weight would outvote the recognizer, and the commit would
        be a silent guess against what the cameras saw."""
        codes = {part.code for part in best.parts} if best is not None else set()
        return tuple(sorted(code for code, score in seen.items()
                            if score >= self.params.recognizer_veto_score and code not in codes))

    @staticmethod
    def _candidates(scored: list[tuple[float, tuple[Part, ...], float]], identified: set[str]) -> tuple[Hypothesis, ...]:
        """What a question offers, best first: one entry per product (per basket item or open
        question, for a loss), ranked by the posterior probability that it is, or is among,
        what changed: summed over every count and every pair it is part of, not just its
        likeliest count. Its part is that of its likeliest hypothesis, a single one if any."""
        total = sum(s for s, _, _ in scored) or 1.0
        mass: dict[tuple[str, int | None, int | None], float] = {}
        best: dict[tuple[str, int | None, int | None], tuple[tuple[bool, float], Part, float]] = {}
        for s, parts, z in scored:
            for part in parts:
                key = (part.code, part.item_id, part.question_id)
                mass[key] = mass.get(key, 0.0) + s
                rank = (len(parts) == 1, s)
                if key not in best or rank > best[key][0]:
                    best[key] = (rank, part, z)
        order = sorted(mass, key=lambda key: -mass[key])[:MAX_CANDIDATES]
        return tuple(Hypothesis((best[key][1],), mass[key] / total, best[key][2], key[0] in identified)
                     for key in order)

    @staticmethod
    def _rank(scored: list[tuple[float, tuple[Part, ...], float]], identified: set[str]) -> tuple[Hypothesis, ...]:
        total = sum(s for s, _, _ in scored) or 1.0
        scored.sort(key=lambda s: -s[0])
        return tuple(Hypothesis(parts, s / total, z, bool(parts) and all(p.code in identified for p in parts))
                     for s, parts, z in scored[:24])

    # -- losses -----------------------------------------------------------------------------

    def _loss(self, delta: float, evidence: Evidence, basket: list[BasketEntry],
              unnamed: list[OpenGain] | None = None, own_g: float = 0.0) -> Decision:
        loss = -delta
        noise = _noise(self.params, loss)
        seen = set(evidence.barcodes)
        # the shopper's "remove" tap names what they lift out as surely as a read barcode, but
        # it is their word: it never counts as the cameras having seen it leave (below)
        named_out = seen | ({evidence.tapped} if evidence.tapped else set())
        # One key per unit product (its units are interchangeable) and per weighed lot, with
        # what the scale measured when they went in: far sharper than the catalogue's spread.
        keys: list[tuple[str, Product, int, float | None, int | None]] = []
        units: dict[str, tuple[int, float | None]] = {}
        for entry in basket:
            product = self.catalogue.get(entry.code)
            if product is None:
                continue
            if entry.by_weight:
                keys.append((entry.code, product, 1, entry.weight_g, entry.item_id))
            else:
                qty, grams = units.get(entry.code, (0, 0.0))
                measured = None if grams is None or entry.weight_g is None else grams + entry.weight_g
                units[entry.code] = (qty + entry.qty, measured)
        unit_keys = {code: v for code, v in sorted(units.items())}
        for code, (qty, _) in unit_keys.items():
            keys.append((code, self.catalogue[code], qty, None, None))

        # What the cameras saw leave is the prior: the recognizer's probabilities, and what
        # they leave unsaid spread over the basket; a barcode read while the item was lifted
        # out is near-certain.
        unnamed = unnamed or []
        own = own_g >= self.params.min_change_g
        named = sum(evidence.removed.values())
        floor = max(1.0 - named, REMOVED_FLOOR) / max(len(keys) + len(unnamed) + own, 1)

        # Where the cameras saw something leave: items lie where they were put (mostly; a
        # pushed cart shuffles them, so the overlap only ever shifts the odds, capped).
        overlap: dict[tuple[str, int | None], float] = {}
        if evidence.removed_place is not None:
            for entry in basket:
                key = (entry.code, entry.item_id if entry.by_weight else None)
                overlap[key] = max(overlap.get(key, 0.0), _iou(entry.place, evidence.removed_place))

        # How what left looked, against how each item looked going in: the same physical item
        # looks like itself, which tells apart look-alike products of equal weight.
        resemblance: dict[tuple[str, int | None], float] = {}
        if evidence.removed_look is not None:
            for entry in basket:
                similarity = look_similarity(entry.look, evidence.removed_look)
                if similarity is not None:
                    key = (entry.code, entry.item_id if entry.by_weight else None)
                    resemblance[key] = max(resemblance.get(key, -1.0), similarity)

        def prior(code: str, item_id: int | None = None) -> float:
            value = floor + evidence.removed.get(code, 0.0) if evidence.removed else 1.0
            if overlap:
                value *= PLACE_FLOOR + overlap.get((code, item_id), 0.0)
            value *= look_factor(resemblance.get((code, item_id)))
            return value * (REMOVED_BARCODE_FACTOR if code in named_out else 1.0)

        def camera_saw(code: str, item_id: int | None) -> bool:
            """The cameras saw this basket line leave: its barcode read on the way out, the
            recognizer's probability of its product, or what left looking like it did going in."""
            return code in seen or evidence.removed.get(code, 0.0) >= UNNAMED_SEEN_SHARE \
                or resemblance.get((code, item_id), -1.0) >= LOOK_PLAIN

        def options(key: tuple[str, Product, int, float | None, int | None], cap: int):
            code, product, qty, weight, item_id = key
            if weight is not None:
                yield Part(code, 1, weight, item_id), weight, math.sqrt(2 * noise * noise + (0.005 * weight) ** 2), 1.0
                return
            measured = unit_keys[code][1]
            mean_unit = measured / qty if measured else product.unit_weight_g
            for n in range(1, min(qty, cap) + 1):
                # n of the qty units: their sum varies less the more of the measured whole it is
                # (sampling without replacement); all of them weigh what went in, +- noise.
                spread = n * product.unit_weight_sd_g ** 2 * ((qty - n) / max(qty - 1, 1) if measured else 1.0)
                # taking out everything of a kind (often what went in together) is as likely as one
                nprior = 1.0 if n == qty else unit_prior(n)
                yield (Part(code, n, n * mean_unit), n * mean_unit, math.sqrt(spread + 2 * noise * noise), nprior)

        scored: list[tuple[float, tuple[Part, ...], float]] = []
        for held in keys:
            for part, mean, sd, nprior in options(held, MAX_UNITS):
                scored.append((prior(held[0], held[4]) * nprior * normal_pdf(loss, mean, sd), (part,),
                               (loss - mean) / sd))
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                for pa, ma, sa, qa in options(a, MAX_PAIR_UNITS):
                    for pb, mb, sb, qb in options(b, MAX_PAIR_UNITS):
                        sd = math.sqrt(sa * sa + sb * sb - noise * noise)
                        scored.append((prior(a[0], a[4]) * prior(b[0], b[4]) * qa * qb * PAIR_FACTOR
                                       * normal_pdf(loss, ma + mb, sd), (pa, pb), (loss - ma - mb) / sd))
        # An unnamed item leaving competes with the basket on the same terms (what the cameras
        # saw leave, where, how it looked, its weight), but it may only be *decided* on what
        # the cameras saw: a lemon of 149 g taken out must not close the question about a
        # 151 g pepper while the lemon stays on the bill.
        seen_leaving: set[int] = set()    # by the cameras
        told_out: set[int] = set()
        partial: set[Part] = set()
        for gain in unnamed:
            share = 0.0
            if evidence.removed and gain.candidates:
                # what the cameras give to "one of the things the question suggested"
                share = min(1.0, sum(evidence.removed.get(code, 0.0) for code in gain.candidates))
            value = floor + share if evidence.removed else 1.0
            if evidence.removed_place is not None:
                value *= PLACE_FLOOR + _iou(gain.place, evidence.removed_place)
            similarity = look_similarity(gain.look, evidence.removed_look)
            value *= look_factor(similarity)
            if share >= UNNAMED_SEEN_SHARE or (similarity is not None and similarity >= LOOK_PLAIN):
                seen_leaving.add(gain.question_id)
            if gain.told_out:
                told_out.add(gain.question_id)
            code = max(gain.candidates, key=lambda c: gain.candidates[c]) if gain.candidates else ""
            # all of it, or some of several units that went in together (two soy milks in
            # unnamed, one out): a part is only ever asked about, never decided
            for share in UNNAMED_SHARES:
                grams = gain.weight_g * share
                sd = math.sqrt(2 * noise * noise + (0.005 * grams) ** 2 + (0.01 * grams) ** 2 * (share < 1.0))
                part = Part(code, 1, grams, question_id=gain.question_id)
                if share < 1.0:
                    partial.add(part)
                scored.append((value * (1.0 if share == 1.0 else unit_prior(2)) * normal_pdf(loss, grams, sd),
                               (part,), (loss - grams) / sd))
        own_fits = False
        if own:
            # The shopper's own bags (the starting load, never billed) leaving: all of them, or
            # something of theirs out of them (a phone, a purse: anything up to their weight).
            # Never committed (nothing on the bill changes), so a loss they may be is asked: a
            # 150 g bag lifted out closed the question about the 150 g item the shopper was told
            # to take out, which stayed in the cart, and a 318 g bag took a sour cream still in
            # the cart off the bill. The question offers them (``OWN_THINGS``) where they fit.
            value = (floor if evidence.removed else 1.0) * (PLACE_FLOOR if evidence.removed_place is not None else 1.0)
            sd = math.sqrt(2 * noise * noise + (0.005 * own_g) ** 2)
            z = (loss - own_g) / sd
            scored.append((value * normal_pdf(loss, own_g, sd), (Part(OWN_THINGS, 1, own_g),), z))
            own_fits = abs(z) <= MAX_Z
            if loss <= own_g:
                scored.append((value / own_g, (Part(OWN_THINGS, 1, loss),), 0.0))
                own_fits = True
        scored.append((0.01 * OTHER_DENSITY, (), 0.0))
        in_basket = {k[0] for k in keys}
        seen_held = {code: score for code, score in evidence.removed.items() if code in in_basket}
        ranked = self._rank(scored, in_basket)
        best = ranked[0]
        # A "take it out" item may leave on the weight alone (the shopper was told to take it
        # out), but not where the shopper's own things weigh as much: lifted out of a 400 g bag,
        # 150 g of the shopper's own closed the question about a 150 g item still in the cart.
        weighed_out = told_out if not own_fits else set()
        decided_by_weight_alone = any(p.question_id is not None
                                      and (p.question_id not in (seen_leaving | weighed_out) or p in partial)
                                      for p in best.parts)
        # Where the shopper's own things fit the loss, a basket line leaves only on what the
        # cameras saw: part of a 400 g bag (a 318 g phone lifted out of it) was taken for the
        # 318 g sour cream still in the cart, which left the bill with nothing to tell (the
        # load at rest is the same either way, for the rest of the session). So where they
        # may have left in the place of one unit of it (weighing no more than they do): one
        # sour cream and the phone lifted out together took two sour creams off the bill.
        def could_be_own(p: Part) -> bool:
            return own and (own_fits or p.weight_g / max(p.qty, 1) <= own_g + MAX_Z * noise)

        unseen = [p for p in best.parts
                  if p.question_id is None and could_be_own(p) and not camera_saw(p.code, p.item_id)]
        on_the_tap = bool(unseen) and all(p.code == evidence.tapped for p in unseen)
        if best.parts and all(p.code != OWN_THINGS for p in best.parts) \
                and best.probability >= self.params.commit_probability and abs(best.z) <= MAX_Z \
                and not decided_by_weight_alone \
                and not self._sure(seen_held, best) \
                and (not unseen or on_the_tap):
            # (on the "remove" tap alone against the shopper's own things: their word, noted for staff)
            return Decision("remove", delta, ranked, own_fits=own_fits, unverified=bool(unseen))
        # the question offers the shopper's own things where they fit, or may be part of it
        offer_own = own_fits or any(could_be_own(p) for p in best.parts if p.question_id is None)
        candidates = tuple(h for h in self._candidates(scored, in_basket)
                           if offer_own or h.parts[0].code != OWN_THINGS)
        if offer_own and all(h.parts[0].code != OWN_THINGS for h in candidates):
            candidates += (Hypothesis((Part(OWN_THINGS, 1, own_g),), 0.0),)
        saw: set[tuple[str, int | None, int | None]] = {
            (code, item_id, None) for code, _, _, _, item_id in keys if camera_saw(code, item_id)}
        saw |= {(p.code, None, p.question_id) for h in candidates for p in h.parts if p.question_id in seen_leaving}
        return Decision("ask", delta, ranked, question="removed", candidates=candidates,
                        sure=self._sure(seen_held), seen=frozenset(saw), own_fits=offer_own)


def look_factor(similarity: float | None) -> float:
    """How much likelier a basket item is to be what left, given how alike they look."""
    if similarity is None:
        return 1.0
    share = min(1.0, max(0.0, (similarity - LOOK_PLAIN) / (LOOK_SURE - LOOK_PLAIN)))
    return LOOK_MATCH ** share


def _iou(a: tuple[str, int, int, int, int] | None, b: tuple[str, int, int, int, int] | None) -> float:
    """Overlap of two (camera, x0, y0, x1, y1) boxes: intersection over union; 0 across cameras."""
    if a is None or b is None or a[0] != b[0]:
        return 0.0
    ix = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    iy = max(0, min(a[4], b[4]) - max(a[2], b[2]))
    inter = ix * iy
    union = (a[3] - a[1]) * (a[4] - a[2]) + (b[3] - b[1]) * (b[4] - b[2]) - inter
    return inter / union if union > 0 else 0.0


def units_z(product: Product, qty: int, delta_g: float, noise_g: float = 2.0) -> float:
    """How many sds a gain of ``delta_g`` is from what ``qty`` units of ``product`` weigh
    (positive: the gain is heavier)."""
    return _units_likelihood(delta_g, ((product, qty),), _noise_g(noise_g, delta_g))[1]


def unexplained_g(product: Product, qty: int, delta_g: float, noise_g: float = 2.0) -> float:
    """The grams of a gain of ``delta_g`` that ``qty`` units of ``product`` cannot account for
    (more than ``MAX_Z`` sds lighter than the gain): something else went in with them. 0 when
    they can, and for produce sold by weight (the weight is the quantity)."""
    if product.by_weight:
        return 0.0
    return delta_g - qty * product.unit_weight_g if units_z(product, qty, delta_g, noise_g) > MAX_Z else 0.0


def best_quantity(product: Product, delta_g: float, noise_g: float = 2.0) -> int:
    """The number of units of ``product`` a gain of ``delta_g`` most likely is (1 for produce by weight)."""
    if product.by_weight:
        return 1
    noise = _noise_g(noise_g, delta_g)
    return max(range(1, 4 * MAX_UNITS + 1),
               key=lambda n: unit_prior(n) * _units_likelihood(abs(delta_g), ((product, n),), noise)[0])
