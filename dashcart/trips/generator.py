"""Generated shopping trips (``dashcart-trip/1``) with the truth alongside, for tests,
benchmarks and demos.

A trip is planned from the catalogue: the shopper signs in, walks through zones (beacon
sightings), puts cartons in (barcode shown to the camera, or hidden), several units at
once, produce by weight or by piece (entering the PLU on the screen first, or not), takes
things out again, sometimes while the cart is being pushed, and rolls into the checkout
lane. From the plan come:

* ``scale.log``: the simulated scale's load-script renderer (``dashcart.sim.load_script``),
  with the true weights of the very items put in (each unit drawn from the catalogue's
  mean and spread), hand presses, ringing and the cart's shaking;
* ``frames/top/<ms>.jpg``: views into the basket (640x480 by default, a basket camera's
  configured size; items scale with the frame): the product held up to the camera in a hand
  that may cover part of it (cartons with a rendered EAN-13 barcode label when the barcode
  is shown), and the basket before and after each change, built from the Grocery Store
  Dataset's photos of *one* split of ``training/gsd_data.splits`` (``test`` by default:
  photos the recognizer, its gallery and its calibration never used; ``calib`` for fitting
  the calibration; never falling back to another split). Each trip has a camera of its own
  (:class:`CameraSetup`: height over the basket, tilt, exposure, colour cast, focus, noise);
  with ``cameras=2`` also ``frames/rear/<ms>.jpg``: a second camera at the basket's other end,
  with a set-up of its own, seeing the same items turned half round (not the product held up
  to the top camera, nor its barcode), its frames 50 ms after the top camera's (cameras are
  not synchronized);
* ``beacons.csv``, ``shopper.csv`` (sign-in and PLU entries; answers to the cart's
  questions come from :class:`ShopperOracle` during a replay, since which questions the
  cart asks is what is being measured), ``trip.json`` (with the site map), and
* ``truth.json`` (generator only; replay ignores it): what really happened and the basket
  that should come out.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dashcart.core.catalogue import Catalogue, Product
from dashcart.sim.basket_scene import FRAME_SIZE, BasketScene, CameraSetup
from dashcart.sim.camera import barcode_label
from dashcart.trips.format import TripWriter

CAMERA = "top"
REAR_CAMERA = "rear"             # the second camera of a two-camera trip
REAR_LAG_S = 0.05                # its frames come this long after the top camera's
BEACON_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
LANE_BEACONS = (f"ibeacon:{BEACON_UUID}:9:1", f"ibeacon:{BEACON_UUID}:9:2")   # entry, exit
# What a basket holds in a trip: the demo bridge's range is about 20 kg at 420 counts/g.
MAX_LOAD_G = 14000.0


@dataclass(frozen=True)
class TripMix:
    """How often each kind of thing happens (probabilities per action)."""

    carton: float = 0.45
    produce_unit: float = 0.15
    produce_weight: float = 0.20
    removal: float = 0.20
    barcode_hidden: float = 0.10           # carton put in with its barcode away from the camera
    plu_entered: float = 0.85              # produce: the shopper enters the PLU before placing
    multi_unit: float = 0.25               # several units at once
    placed_while_pushed: float = 0.10
    removal_barcode_seen: float = 0.30
    plu_entered_by_weight: float | None = None   # produce sold by weight: None = as plu_entered
    hand_covers: float = 0.30              # the hand holding a product up covers part of it
    hand_lingers: float = 0.10             # the hand still rests over what was put in as the load settles
    items_shift: float = 0.30              # pushing on shifts what lies in the basket...
    shift_share: float = 0.05              # ... by up to this share of the frame's width, all together
    # a unit in the basket swapped in one motion for a product of about its weight that is not
    # there (a dishonest shopper: no change for the scale to report); 0 leaves every trip as it was
    swap: float = 0.0
    # an honest shopper moves a unit to another place in the basket (lifted and put down again)
    rearrange: float = 0.0


@dataclass
class TruthAction:
    t: float                     # when the hand starts moving
    rest_t: float                # when the load is at rest again
    kind: str                    # add | remove
    code: str
    qty: int
    grams: float                 # true grams that went in or came out
    how: str = ""                # barcode | hidden | plu | recognizer | removal | swap (one motion, out and in)
    lot: int | None = None       # for weighed produce: which lot (removals name the lot taken)


@dataclass
class Truth:
    actions: list[TruthAction] = field(default_factory=list)
    basket: dict[str, dict[str, Any]] = field(default_factory=dict)   # code -> {"qty", "lots": [grams]}
    duration_s: float = 0.0
    seed: int = 0
    split: str = ""                          # the photo split the frames were built from
    photos: list[str] = field(default_factory=list)   # the photos used (relative to the dataset)
    camera: dict[str, Any] = field(default_factory=dict)   # the CameraSetup of the trip (the top camera)
    rear_camera: dict[str, Any] = field(default_factory=dict)   # ... of the second camera, if any
    moves: int = 0                           # units moved within the basket (TripMix.rearrange): nothing to bill

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "duration_s": self.duration_s, "actions": [asdict(a) for a in self.actions],
                "basket": self.basket, "split": self.split, "photos": self.photos, "camera": self.camera,
                "rear_camera": self.rear_camera, "moves": self.moves}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Truth:
        return cls([TruthAction(**a) for a in data["actions"]], data["basket"], data["duration_s"], data["seed"],
                   data.get("split", ""), data.get("photos", []), data.get("camera", {}),
                   data.get("rear_camera", {}), data.get("moves", 0))


def load_truth(trip_dir: str | Path) -> Truth:
    return Truth.from_json(json.loads((Path(trip_dir) / "truth.json").read_text()))


#: The photo splits a trip can be built from (``training/gsd_data.Splits``).
SPLITS = ("train", "calib", "test")


def split_photos(dataset_root: str | Path, split: str) -> dict[str, list[Path]]:
    """GSD class name -> the photos of ``split``, from the training code's own definition of
    the splits (training/gsd_data.py), so trips and training can never disagree on them."""
    import importlib.util
    if split not in SPLITS:
        raise ValueError(f"unknown photo split {split!r} (one of {', '.join(SPLITS)})")
    source = Path(__file__).resolve().parents[2] / "training" / "gsd_data.py"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the dataset's split definition is needed to pick photos by split")
    import sys
    gsd_data = sys.modules.get("dashcart_gsd_data")
    if gsd_data is None:
        spec = importlib.util.spec_from_file_location("dashcart_gsd_data", source)
        assert spec is not None and spec.loader is not None
        gsd_data = importlib.util.module_from_spec(spec)
        sys.modules["dashcart_gsd_data"] = gsd_data   # its dataclasses look their module up there
        spec.loader.exec_module(gsd_data)
    chosen = getattr(gsd_data.splits(Path(dataset_root)), split)
    out: dict[str, list[Path]] = {}
    for sample in chosen:
        out.setdefault(sample.path.parent.name, []).append(sample.path)
    return out


class ProductImages:
    """The photos of one split per product, loaded once and kept small. A product whose class
    has no photo in the split is drawn as a grey card with its name, never from another split."""

    def __init__(self, dataset_root: str | Path, split: str = "test"):
        self.root = Path(dataset_root)
        self.split = split
        self._paths = split_photos(self.root, split)
        self._cache: dict[Path, np.ndarray] = {}

    def paths(self, product: Product) -> list[Path]:
        return list(self._paths.get(product.gsd_class, []))

    def pick(self, product: Product, rng: random.Random, size: int, used: set[Path] | None = None) -> np.ndarray:
        """A photo of ``product`` from the split, ``size`` pixels square; its path goes into ``used``."""
        import cv2
        paths = self._paths.get(product.gsd_class) or []
        if not paths:
            image = np.full((size, size, 3), 128, np.uint8)
            cv2.putText(image, product.name[:10], (4, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            return image
        path = rng.choice(paths)
        if used is not None:
            used.add(path)
        if path not in self._cache:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            self._cache[path] = cv2.resize(image, (160, 160), interpolation=cv2.INTER_AREA)
        return cv2.resize(self._cache[path], (size, size), interpolation=cv2.INTER_AREA)


def _zones(catalogue: Catalogue) -> list[str]:
    return sorted({p.zone for p in catalogue if p.zone})


def _site(zones: list[str]) -> dict[str, Any]:
    return {"zones": {f"ibeacon:{BEACON_UUID}:1:{i + 1}": zone for i, zone in enumerate(zones)},
            "lane": list(LANE_BEACONS)}


def generate_trip(out: str | Path, catalogue: Catalogue, dataset_root: str | Path | None, seed: int, *,
                  events: int = 20, mix: TripMix | None = None, frames: bool = True, offset: int = -84211,
                  counts_per_gram: float = 420.0, catalogue_ref: str | None = None,
                  images: ProductImages | None = None, frame_size: tuple[int, int] = FRAME_SIZE,
                  split: str = "test", camera: CameraSetup | None = None, cameras: int = 1) -> Truth:
    """Write one trip into ``out`` (a new directory) and return its truth.

    Photos come from ``split`` only (or from ``images``, whose split is then the one used);
    ``camera`` is drawn from the seed unless given (``CameraSetup()``: the plain camera of
    earlier trips, straight down, evenly lit). ``cameras``: 1, or 2 for a rear camera too,
    drawn from a stream of its own, so the top camera's frames are the same either way."""
    from dashcart.sim.load_script import Lift, LoadScript, Place, Push, render_scale_log

    if cameras not in (1, 2):
        raise ValueError(f"cameras must be 1 or 2, not {cameras!r}")
    mix = mix or TripMix()
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    # its own stream, so that shifting the load leaves every other choice of the trip as it was
    shift_rng = random.Random(seed * 7919 + 1)
    # the camera and the hands on streams of their own too
    camera = camera or CameraSetup.draw(random.Random(seed * 104729 + 3))
    hand_rng = random.Random(seed * 15485863 + 5)
    swap_rng = random.Random(seed * 2750159 + 11)   # drawn from only when mix.swap is set
    move_rng = random.Random(seed * 3021377 + 13)   # ... mix.rearrange
    # the rear camera films the same basket, so items are as big in its frames (its own
    # height is not drawn); the rest of its set-up is its own
    rear = replace(CameraSetup.draw(random.Random(seed * 104729 + 7)), item_share=camera.item_share) \
        if cameras == 2 else None
    rear_np_rng = np.random.default_rng(seed * 104729 + 7)
    zones = _zones(catalogue)
    site = _site(zones)
    beacon_of = {zone: key for key, zone in site["zones"].items()}
    by_zone = {zone: [p for p in catalogue if p.zone == zone] for zone in zones}
    if images is None and frames and dataset_root:
        images = ProductImages(dataset_root, split)
    scene = BasketScene(frame_size[0], frame_size[1], camera=camera, rng=rng)
    camera_ids = (CAMERA, REAR_CAMERA) if rear else (CAMERA,)
    writer = TripWriter(out, offset=offset, counts_per_gram=counts_per_gram, cameras=camera_ids if frames else (),
                        catalogue=catalogue_ref, site=site, frames=frames)
    truth = Truth(seed=seed, split=images.split if images else "", camera=asdict(camera),
                  rear_camera=asdict(rear) if rear else {})
    used: set[Path] = set()
    load: list[Any] = []
    # what is physically in the cart: {"key","code","qty","grams","unit_g","units"}; "units" are
    # the scene's pictures of it (one per unit; one for a bag of produce)
    basket: list[dict[str, Any]] = []
    labels: dict[str, np.ndarray] = {}
    looks: dict[int, np.ndarray] = {}
    next_key = 1

    def frame(t: float, image: np.ndarray, hand_over: Any = None) -> None:
        """The top camera's ``image`` at ``t``; a rear camera films the basket just after, with
        the hand over ``hand_over`` as on the top camera's frame."""
        if frames:
            import cv2
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            writer.frame_jpeg(CAMERA, t, jpeg.tobytes())
            if rear is not None:
                ok, jpeg = cv2.imencode(".jpg", scene.render(rear_np_rng, hand_over, camera=rear),
                                        [cv2.IMWRITE_JPEG_QUALITY, 80])
                writer.frame_jpeg(REAR_CAMERA, t + REAR_LAG_S, jpeg.tobytes())

    def still(t0: float) -> None:
        # two frames of an untouched basket: the "before" the vision pipeline compares with
        frame(t0, scene.render(np_rng))
        frame(t0 + 0.15, scene.render(np_rng))

    def settling(t0: float, rest_t: float, hand_over: Any = None, lingers: bool = False) -> None:
        # the hand leaves (or rests a while over what it put down); the camera keeps sending
        # while the load comes to rest
        ft = t0
        while ft <= rest_t + 0.45:
            over = hand_over if (ft < t0 + 0.2 or (lingers and ft <= rest_t + 0.3)) else None
            frame(ft, scene.render(np_rng, over), over)
            ft += 0.15

    def look(product: Product) -> np.ndarray:
        size = scene.item_px
        return images.pick(product, rng, size, used) if images else np.zeros((size, size, 3), np.uint8)

    def label(product: Product) -> np.ndarray:
        if product.code not in labels:
            labels[product.code] = barcode_label(product.code)
        return labels[product.code]

    t = 1.0
    writer.shopper(0.5, "signin", f"dcs1:generated-shopper-{seed:08d}")
    zone = rng.choice(zones)
    zone_changes: list[tuple[float, str]] = [(0.0, zone)]
    for _ in range(events):
        # walk on: sometimes to another zone, pushing the cart
        walk = rng.uniform(4.0, 7.0)
        if rng.random() < 0.35:
            zone = rng.choice(zones)
            zone_changes.append((t + 0.5, zone))
            walk += 2.0
        load.append(Push(t + 0.2, t + walk - 1.8, amplitude_g=rng.uniform(40.0, 250.0)))
        if frames and shift_rng.random() < mix.items_shift:
            scene.shift(shift_rng, mix.shift_share)
        t += walk
        swap = _swap_of(basket, catalogue, swap_rng) if mix.swap and swap_rng.random() < mix.swap else None
        if swap is not None:
            entry, swapped_in = swap
            gone = catalogue[entry["code"]]
            if frames:
                still(t - 0.7)
            gone_g = entry["unit_g"].pop()
            entry["qty"] -= 1
            entry["grams"] -= gone_g
            unit = entry["units"].pop()
            if not entry["qty"]:
                basket.remove(entry)
            # about its weight: the difference under what the scale reports as a change
            in_g = round(gone_g + swap_rng.uniform(-2.0, 2.0), 1)
            lift, place = Lift(t, gone_g), Place(t + 0.2, in_g)
            load += [lift, place]
            rest = max(lift.rest_t(), place.rest_t())
            key = next_key
            next_key += 1
            if frames:
                scene.remove(unit)
                appearance = look(swapped_in)
                looks[key] = appearance
                scene.lay((key, 0), appearance)
                settling(t + 0.45, rest, (key, 0))
            basket.append({"key": key, "code": swapped_in.code, "qty": 1, "grams": in_g, "unit_g": [in_g],
                           "units": [(key, 0)]})
            truth.actions.append(TruthAction(t, rest, "remove", gone.code, 1, gone_g, "swap"))
            truth.actions.append(TruthAction(t, rest, "add", swapped_in.code, 1, in_g, "swap"))
            t = rest + 0.5
            continue
        movable = [b for b in basket if b["units"]] if mix.rearrange and move_rng.random() < mix.rearrange else []
        if movable:
            entry = move_rng.choice(movable)
            unit = entry["units"][-1]
            grams = entry["unit_g"][-1] if not catalogue[entry["code"]].by_weight else entry["grams"]
            if frames:
                still(t - 0.7)
            lift, place = Lift(t, grams), Place(t + 0.3, grams)
            load += [lift, place]
            rest = max(lift.rest_t(), place.rest_t())
            if frames:
                placed = scene.remove(unit)
                if placed is not None:
                    scene.lay(unit, placed.image)
                settling(t + 0.45, rest, unit)
            truth.moves += 1
            t = rest + 0.5
            continue
        roll = rng.random()
        removable = [b for b in basket]
        load_g = sum(b["grams"] for b in basket)
        if removable and (roll < mix.removal or load_g > MAX_LOAD_G - 2500.0):
            entry = rng.choice(removable)
            product = catalogue[entry["code"]]
            if frames:
                still(t - 0.7)
            if product.by_weight or entry["qty"] == 1 or rng.random() < 0.3:
                qty, grams = entry["qty"], entry["grams"]
                basket.remove(entry)
                for unit in entry["units"]:
                    scene.remove(unit)
            else:
                qty = 1
                grams = entry["unit_g"].pop()
                entry["qty"] -= 1
                entry["grams"] -= grams
                scene.remove(entry["units"].pop())
            lift = Lift(t, grams)
            load.append(lift)
            action = TruthAction(t, lift.rest_t(), "remove", product.code, qty, grams, "removal",
                                 entry["key"] if product.by_weight else None)
            if frames:
                if product.code_type != "plu" and rng.random() < mix.removal_barcode_seen:
                    covers = hand_rng.uniform(0.2, 0.5) if hand_rng.random() < mix.hand_covers else 0.0
                    for dt in (0.1, 0.25, 0.4):
                        frame(t + dt, scene.held_up(looks.get(entry["key"], look(product)), label(product), np_rng,
                                                    covers))
                settling(t + 0.55, lift.rest_t())
        else:
            if roll < mix.removal + mix.carton:
                product = rng.choice([p for p in catalogue if p.code_type != "plu"])
            else:
                produce = [p for p in by_zone.get(zone, []) if p.code_type == "plu"] or \
                          [p for p in catalogue if p.code_type == "plu"]
                wanted_weight = roll >= mix.removal + mix.carton + mix.produce_unit
                produce = [p for p in produce if p.by_weight == wanted_weight] or produce
                product = rng.choice(produce)
            if product.by_weight:
                pieces = rng.randint(2, 7) if product.unit_weight_g < 1000 else 1
                qty = 1
                unit_g = [max(5.0, rng.gauss(product.unit_weight_g, product.unit_weight_sd_g)) for _ in range(pieces)]
            else:
                qty = 1
                if rng.random() < mix.multi_unit and product.unit_weight_g * 4 + load_g < MAX_LOAD_G:
                    qty = rng.choice((2, 2, 2, 3, 3, 4))
                sd = product.unit_weight_sd_g
                unit_g = [max(5.0, rng.gauss(product.unit_weight_g, sd)) for _ in range(qty)]
            grams = round(sum(unit_g), 1)
            if product.code_type == "plu":
                entered = mix.plu_entered
                if product.by_weight and mix.plu_entered_by_weight is not None:
                    entered = mix.plu_entered_by_weight
                how = "plu" if rng.random() < entered else "recognizer"
                if how == "plu":
                    # by the piece: one tap per piece, the way the screen counts them
                    for tap in range(qty if not product.by_weight else 1):
                        writer.shopper(t - 1.5 + 0.2 * tap, "plu", product.code)
            else:
                how = "hidden" if rng.random() < mix.barcode_hidden else "barcode"
            pushed = rng.random() < mix.placed_while_pushed
            place = Place(t, grams)
            load.append(place)
            rest = place.rest_t()
            if pushed:
                push = Push(t - 0.4, t + 1.2, amplitude_g=rng.uniform(30.0, 120.0))
                load.append(push)
                rest = max(rest, push.rest_t())
            key = next_key
            next_key += 1
            action = TruthAction(t, rest, "add", product.code, qty, grams, how, key if product.by_weight else None)
            existing = next((b for b in basket if b["code"] == product.code and not product.by_weight), None)
            if frames:
                appearance = look(product)
                looks[key] = appearance
                still(t - 2.0)
                if how == "barcode":
                    covers = hand_rng.uniform(0.2, 0.5) if hand_rng.random() < mix.hand_covers else 0.0
                    for dt in (1.5, 1.2, 0.9):
                        frame(t - dt, scene.held_up(appearance, label(product), np_rng, covers))
            units = [(key, i) for i in range(1 if product.by_weight else qty)]
            if frames:
                for i, unit in enumerate(units):
                    scene.lay(unit, appearance, near=units[i - 1] if i else None)
                settling(t + 0.45, rest, units[-1], hand_rng.random() < mix.hand_lingers)
            if existing is not None:
                existing["qty"] += qty
                existing["grams"] += grams
                existing["unit_g"] += unit_g
                existing["units"] += units
            else:
                basket.append({"key": key, "code": product.code, "qty": qty, "grams": grams, "unit_g": unit_g,
                               "units": units})
        truth.actions.append(action)
        t = action.rest_t + 0.5
    # to the lane
    lane_t = t + 4.0
    load.append(Push(t + 0.5, lane_t + 1.0, amplitude_g=150.0))
    duration = lane_t + 14.0
    truth.duration_s = duration
    for code in sorted({b["code"] for b in basket}):   # sorted: truth.json the same bytes in every process
        entries = [b for b in basket if b["code"] == code]
        truth.basket[code] = {"qty": sum(b["qty"] for b in entries) if not catalogue[code].by_weight else len(entries),
                              "lots": [round(b["grams"], 1) for b in entries] if catalogue[code].by_weight else []}
    # beacons: the zone's beacon loud, the others faint; the lane at the end
    zone_at = iter(zone_changes[1:] + [(math.inf, "")])
    current, nxt = zone_changes[0][1], next(zone_at)
    s = 0.25
    while s < duration:
        while s >= nxt[0]:
            current, nxt = nxt[1], next(zone_at)
        if s < lane_t:
            writer.beacon(s, "ibeacon", beacon_of[current].split(":", 1)[1], round(rng.gauss(-62, 3)))
            other = rng.choice(zones)
            if other != current:
                writer.beacon(s + 0.1, "ibeacon", beacon_of[other].split(":", 1)[1], round(rng.gauss(-86, 3)))
        else:
            # through the lane: past the entry beacon, then the exit beacon, close by
            near = 0 if s < lane_t + 3.0 else 1
            writer.beacon(s, "ibeacon", LANE_BEACONS[near].split(":", 1)[1], round(rng.gauss(-50, 2)))
            writer.beacon(s + 0.1, "ibeacon", LANE_BEACONS[1 - near].split(":", 1)[1], round(rng.gauss(-75, 2)))
        s += 0.25 if s >= lane_t else 0.5
    script = LoadScript(duration_s=duration, events=tuple(load))
    for st, line in render_scale_log(script, seed=seed, offset=offset, counts_per_gram=counts_per_gram):
        writer.scale_line(st, line)
    writer.close()
    if images is not None:
        truth.photos = sorted(str(p.relative_to(images.root)) if p.is_relative_to(images.root) else str(p) for p in used)
    (Path(out) / "truth.json").write_text(json.dumps(truth.to_json(), indent=1))
    return truth



def _swap_of(basket: list[dict[str, Any]], catalogue: Catalogue,
             rng: random.Random) -> tuple[dict[str, Any], Product] | None:
    """A unit in the basket and a product not in it whose units weigh about the same (within
    20 g or two of its spreads), or None when the basket holds no such pair."""
    there = {b["code"] for b in basket}
    pairs = [(b, p) for b in basket if not catalogue[b["code"]].by_weight for p in catalogue
             if not p.by_weight and p.code not in there
             and abs(p.unit_weight_g - catalogue[b["code"]].unit_weight_g) <= max(20.0, 2 * p.unit_weight_sd_g)]
    return rng.choice(pairs) if pairs else None


class ShopperOracle:
    """Answers the cart's questions as the shopper would (they know what they did), 1.5 s
    after each appears, naming the question. For :func:`dashcart.trips.replay.replay`'s ``oracle``."""

    def __init__(self, truth: Truth, delay_s: float = 1.5):
        self.truth = truth
        self.delay_s = delay_s
        self._seen: set[int] = set()

    def __call__(self, controller: Any, t: float) -> list[Any]:
        from dashcart.events import ShopperAction
        actions = []
        for q in controller.basket.questions:
            if q.id in self._seen or q.kind == "remove_unknown":
                continue
            self._seen.add(q.id)
            action = question_action(self.truth, q.t)
            if action is not None:
                # the screen lets the shopper say how many of a unit product; a bag is one lot
                qty = 0 if action.lot is not None else action.qty
                actions.append(ShopperAction(q.t + self.delay_s, "choose", action.code, question_id=q.id, qty=qty))
        return actions


@dataclass
class Comparison:
    """How a replay's outcome compares with a generated trip's truth."""

    exact: bool
    wrong_codes: list[str]              # products whose final quantity/weight differs from the truth
    silent: list[str]                   # ... of those, the ones no question was ever asked about
    questions: int                      # questions the cart asked (gain, loss; not "take it out")
    wrong_commits: int                  # changes the cart made on its own that the truth contradicts


def question_action(truth: Truth, t: float) -> TruthAction | None:
    """The action a question at ``t`` was about: the last one at rest before it."""
    before = [a for a in truth.actions if a.t <= t]
    return before[-1] if before else None


def compare(truth: Truth, basket: dict[str, tuple[int, list[float]]], log: list[dict[str, Any]],
            weight_tolerance_g: float = 5.0) -> Comparison:
    """``basket``: code -> (units, weighed lots) as the cart ended the trip; ``log``: its events."""
    wrong: list[str] = []
    for code in sorted(set(truth.basket) | set(basket)):
        want = truth.basket.get(code)
        got = basket.get(code)
        if want is None or got is None:
            wrong.append(code)
            continue
        if want["lots"]:
            a, b = sorted(want["lots"]), sorted(got[1])
            if len(a) != len(b) or any(abs(x - y) > max(weight_tolerance_g, 0.01 * x) for x, y in zip(a, b)):
                wrong.append(code)
        elif want["qty"] != got[0]:
            wrong.append(code)
    asked_about: set[str] = set()
    questions = 0
    for entry in log:
        if entry["type"] == "question" and entry["kind"] != "remove_unknown":
            questions += 1
            action = question_action(truth, entry["t"])
            if action is not None:
                asked_about.add(action.code)
            asked_about.update(entry.get("candidates", []))
    wrong_commits = 0
    for entry in log:
        if entry["type"] in ("added", "removed") and entry.get("by") == "fusion":
            action = question_action(truth, entry["t"])
            kind = "add" if entry["type"] == "added" else "remove"
            if action is None or action.code != entry["code"] or action.kind != kind or \
                    (not action.lot and action.qty != entry["qty"]):
                wrong_commits += 1
    silent = [c for c in wrong if c not in asked_about]
    return Comparison(not wrong, wrong, silent, questions, wrong_commits)


def basket_of(result_json: dict[str, Any]) -> dict[str, tuple[int, list[float]]]:
    """code -> (units, weighed lots) from ``dashcart replay --json`` output."""
    out: dict[str, tuple[int, list[float]]] = {}
    for line in result_json["basket"]:
        qty, lots = out.get(line["code"], (0, []))
        if line["weight_g"] is not None:
            lots = lots + [line["weight_g"]]
        out[line["code"]] = (qty + line["qty"], lots)
    return out
