"""Replay a ``dashcart-trip/1`` recording through the live cart's code on the trip's clock.

The scale lines go through the scale driver's decoder and the weighing engine, the frames
through the vision pipeline, the beacons through the zone tracker, the shopper's answers
as actions, all merged in time order into the same :class:`dashcart.core.controller.Controller` the
cart runs, with an in-memory journal. Nothing is sent anywhere: the checkout service runs
without a store in a scratch directory, so an order ends as a local receipt (status
``local``) that is thrown away with it.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dashcart.core.basket import Basket, Journal
from dashcart.core.catalogue import Catalogue, load_catalogue
from dashcart.core.controller import Controller, ControllerSettings
from dashcart.core.fusion import FusionParams
from dashcart.core.location import GATE_JOIN, Locator, Site
from dashcart.errors import DashcartError, Misconfigured
from dashcart.events import (
    BarcodeSeen,
    BeaconSighting,
    Event,
    LoadReturned,
    ShopperAction,
    Tick,
    WeightLive,
    WeightSettled,
)
from dashcart.snapshot import choice_kind
from dashcart.trips.format import Trip, TripProblem, read_trip

log = logging.getLogger("dashcart.replay")


class VisionPort(Protocol):
    """The vision pipeline (:class:`dashcart.core.vision.pipeline.VisionPipeline`): frames in, ``BarcodeSeen``/``ItemRecognized`` out."""

    def feed(self, camera_id: str, t: float, frame: Any) -> list[Event]: ...

    def on_settled(self, change: WeightSettled | LoadReturned) -> list[Event]: ...


class ReplayCheckout:
    """The real checkout service (order built, signed, into an outbox) in a scratch
    state directory and without a store: delivery writes a local receipt there, at once."""

    def __init__(self, post: Callable[[Event], None], state_dir: Path):
        from dashcart.config import Config
        from dashcart.runtime.checkout_sender import CheckoutService
        self._service = CheckoutService(Config(), state_dir=state_dir)
        self._post = post

    def place_order(self, lines: Any, *, shopper_token: str, session_id: str, t: float, seq: int = 1) -> Any:
        placed = self._service.place_order(lines, shopper_token=shopper_token, session_id=session_id, t=t, seq=seq)
        for event in self._service.deliver_due(t):
            self._post(event)
        return placed


class ReplayScale:
    """The controller's scale port on replay: staff's "zero the scale" (a recorded ``staff,tare``)
    zeroes the replay's weighing engine at its next rest, as the live scale reader does on its
    own thread, giving up after ``ZERO_WAIT_S`` of the trip's time (live: of the wall clock)."""

    def __init__(self, engine: Any):
        from dashcart.runtime.scale_reader import ZERO_WAIT_S
        self.engine = engine
        self.wait_s = ZERO_WAIT_S
        self._wanted = False
        self._until: float | None = None

    def request_zero(self) -> None:
        self._wanted = True

    def after_reading(self, t: float) -> None:
        """Called after each scale line is fed to the engine."""
        if not self._wanted:
            return
        if self._until is None:
            self._until = t + self.wait_s
        if self.engine.zero() or t >= self._until:
            self._wanted, self._until = False, None


@dataclass
class ReplayResult:
    controller: Controller
    problems: list[TripProblem] = field(default_factory=list)
    duration_s: float = 0.0
    settled: int = 0
    returned: int = 0             # times the load came back to its rest after moving (LoadReturned)
    frames: int = 0
    vision: bool = False

    def as_json(self) -> dict[str, Any]:
        c = self.controller
        basket = []
        for line in c.snapshot().lines:
            basket.append({"code": line.code, "name": line.name, "qty": line.qty,
                           "weight_g": round(line.weight_g, 1) if line.sold_by == "weight" and line.weight_g is not None
                           else None, "price_cents": line.price_cents})
        questions = [{"t": round(q.t, 3), "kind": q.kind, "candidates": [cand["code"] for cand in q.candidates]}
                     for q in c.basket.questions]
        # The snapshot's total: priced with the catalogue's promotions, like the lines above.
        return {"basket": basket, "total_cents": c.snapshot().total_cents, "open_questions": questions,
                "events": list(c.log), "checkout": c.checkout_result()}


def default_vision(cameras: tuple[str, ...], catalogue: Catalogue, section: Any = None) -> VisionPort | None:
    """The vision pipeline with the shipped recognizer and its prototypes mapped onto the
    catalogue's products; barcodes only when there is no model; None without vision at all.
    ``section``: the config's ``[vision]`` (default: its defaults)."""
    if not cameras:
        return None
    try:
        from dashcart.config import VisionSection
        from dashcart.core.vision.pipeline import VisionPipeline
    except ImportError as exc:
        _warn_once(f"vision not available ({exc}): replaying with weight, beacons and shopper only")
        return None
    recognizer = _recognizer()
    if recognizer is None:
        _warn_once("no recognizer: replaying with barcodes, weight, beacons and shopper")
        return VisionPipeline(list(cameras), section or VisionSection())
    # The gallery the cart itself would rank against: the imported catalogue's (with what the
    # store enrolled) when the trip's catalogue is a database, else the shipped prototypes.
    from dashcart.runtime.assemble import open_gallery
    source = Path(catalogue.source) if catalogue.source else None
    database = source if source is not None and source.suffix.lower() != ".csv" else None
    return VisionPipeline(list(cameras), section or VisionSection(), recognizer=recognizer,
                          gallery=open_gallery(recognizer.version, catalogue, database))


@functools.lru_cache(maxsize=1)
def _recognizer() -> Any:
    """The shipped recognizer, loaded once per process (the model is read-only)."""
    try:
        from dashcart.core.vision.recognizer import Recognizer
        return Recognizer(None, threads=1)
    except (ImportError, DashcartError) as exc:
        _warn_once(f"recognizer not available: {exc}")
        return None


@functools.lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    log.warning("%s", message)


def resolve_catalogue(trip: Trip, fallback: Path | None) -> Catalogue:
    """The trip's catalogue; if it names none, or one that is missing or cannot be read (reported
    once), ``fallback`` (``--catalogue`` or the configured one)."""
    file = trip.path / "trip.json"
    why = "names no catalogue"
    if trip.catalogue is not None:
        if not trip.catalogue.is_file():
            why = f"catalogue {trip.catalogue} does not exist"
        else:
            try:
                return load_catalogue(trip.catalogue)
            except DashcartError as exc:
                why = f"catalogue {trip.catalogue} cannot be used ({exc})"
    if fallback is None:
        raise Misconfigured(f"{file}: {why} and none is configured (--catalogue PATH)")
    if trip.catalogue is not None:
        trip.problems.append(TripProblem(str(file), None, f"{why}; using {fallback}"))
    try:
        return load_catalogue(fallback)
    except DashcartError as exc:
        raise Misconfigured(f"{file}: {why}, and the fallback cannot be used either: {exc}") from None


def _check_codes(trip: Trip, catalogue: Catalogue) -> list[tuple[int, ShopperAction]]:
    """Shopper answers naming products the catalogue lacks: the trip and catalogue don't match."""
    kept = []
    for line, action in trip.shopper:
        if action.action in ("choose", "plu", "produce", "remove") and action.value not in catalogue \
                and not (action.action == "choose" and choice_kind(action.value) != "product"):
            # (a removal's answer may be the shopper's own bag, or the item a question asked to take out)
            trip.problems.append(TripProblem(str(trip.path / "shopper.csv"), line,
                                             f"code {action.value!r} is not in the catalogue {catalogue.source}; "
                                             "line skipped"))
            continue
        kept.append((line, action))
    return kept


Oracle = Callable[[Controller, float], list[ShopperAction]]


def _trip_locator(trip: Trip, config: Any) -> Locator | None:
    """The trip's site as the live cart would use it. An invalid part of the site (or a lane
    that cannot be authenticated) is reported once and left out; the rest is kept."""
    from dashcart.config import Config
    from dashcart.runtime.assemble import open_locator

    file = str(trip.path / "trip.json")
    where = f"{file}: site"
    messages: list[str] = []
    site = Site.from_dict(trip.site, where, messages)
    config = config if config is not None else Config()

    def report(message: str) -> None:
        trip.problems.append(TripProblem(file, None, message.removeprefix(f"{file}: ")))

    for message in messages:
        report(message)
    if trip.started_at is None and any(key.startswith("eddystone-eid:") for gate in site.lane
                                       for key in gate.split(GATE_JOIN)):
        # its ids rotate with the time of day: without the wall clock nothing heard can match
        report("site.lane: eddystone-eid beacons are checked at started_at + t, and trip.json has no "
               "started_at; the lane is left out")
        site = dataclasses.replace(site, lane=())
    try:
        # Recorded and generated trips may use plain iBeacons for the lane: accepted here only.
        return open_locator(config, site, where=where, allow_unauthenticated_lane=True)
    except Misconfigured as exc:
        report(f"{exc}; the lane is left out (replay with --config FILE that has the lane key)")
    site = dataclasses.replace(site, lane=())
    return open_locator(config, site, where=where, allow_unauthenticated_lane=True) if site.zones else None


def replay_settings(config: Any) -> ControllerSettings:
    """The controller settings the live cart would use with ``config``."""
    return ControllerSettings.from_config(config)


def replay(trip_dir: str | Path, *, catalogue: Catalogue | None = None, catalogue_path: Path | None = None,
           fusion: FusionParams | None = None, settings: ControllerSettings | None = None,
           weighing: Any = None, vision: VisionPort | None | bool = True, oracle: Oracle | None = None,
           on_problem: Callable[[TripProblem], None] | None = None, config: Any = None) -> ReplayResult:
    """Replay one trip. ``vision=True`` uses the installed pipeline, ``False``/None none.

    ``config`` (a :class:`~dashcart.config.Config`): the ``[location]`` settings and the
    ``[checkout]`` lane key that authenticate the trip's ``eddystone-eid`` sightings at
    ``started_at + t``; without it a lane of eddystone-eid beacons cannot be checked and is left out.
    Its ``scale.capacity_g`` is the scale's, as live (the default's without it).

    ``oracle`` (benchmarks) is asked after every step for shopper actions to schedule, so a
    simulated shopper can answer the questions the cart asks.
    """
    from dashcart.core.weighing import WeighingEngine, events_of, feed_decoded
    from dashcart.drivers.scale.decoder import LineDecoder
    from dashcart.trips.scale_replay import read_scale_log

    trip = read_trip(trip_dir)
    catalogue = catalogue or resolve_catalogue(trip, catalogue_path)
    shopper = _check_codes(trip, catalogue)
    from dashcart.config import Config
    base = config if config is not None else Config()
    vision_section = base.vision
    if vision is True:
        vision = default_vision(trip.cameras, catalogue, vision_section)
    elif vision is False:
        vision = None
    injected: list[tuple[float, int, int, Event]] = []
    counter = iter(range(1 << 62))

    def post(event: Event) -> None:
        heapq.heappush(injected, (event.t, 0, next(counter), event))

    scratch = tempfile.TemporaryDirectory(prefix="dashcart-replay-")
    checkout = ReplayCheckout(post, Path(scratch.name))
    location = _trip_locator(trip, config) if trip.site else None
    decoder = LineDecoder(trip.protocol)
    engine = WeighingEngine(trip.offset, trip.counts_per_gram, weighing, base.scale.capacity_g)
    scale = ReplayScale(engine)
    controller = Controller(catalogue, Basket(Journal(":memory:")), fusion=fusion, settings=settings,
                            checkout=checkout, location=location, scale=scale)
    result = ReplayResult(controller, trip.problems, vision=vision is not None)
    reported = 0   # the problems found while reading the trip are reported as the replay starts

    def problem(message: str) -> None:
        file, _, rest = message.partition(": ")
        trip.problems.append(TripProblem(file, None, rest or message))

    def scale_items() -> Iterator[tuple[float, int, int, Any]]:
        if trip.scale_log.is_file():
            for t, line in read_scale_log(trip.scale_log, problem):
                yield t, 1, 0, line

    def frame_items() -> Iterator[tuple[float, int, int, Any]]:
        for i, frame in enumerate(trip.frames):
            yield frame.t, 2, i, frame

    def other_items() -> Iterator[tuple[float, int, int, Any]]:
        merged: list[tuple[float, int, int, BeaconSighting | ShopperAction]] = [
            (b.t, 3, i, b) for i, b in enumerate(trip.beacons)]
        merged += [(a.t, 4, line, a) for line, a in shopper]
        yield from sorted(merged, key=lambda x: x[:3])

    def deliver(event: Event) -> None:
        while injected and injected[0][0] <= event.t:
            controller.handle(heapq.heappop(injected)[3])
        controller.advance_to(event.t)
        controller.handle(event)
        if isinstance(event, BarcodeSeen) and catalogue.by_gtin(event.gtin13) is None:
            trip.problems.append(TripProblem(f"frames/{event.camera}", None,
                                             f"barcode {event.gtin13} at t={event.t:.3f} is not in the catalogue"))
        if oracle is not None:
            for action in oracle(controller, event.t):
                post(action)

    import cv2
    # A settled change is recognized once the frames up to look_after_s after it are in, as
    # the live worker waits (a hand resting on what it put down has mostly gone by then); the
    # cart decides later still (fusion.evidence_after_s). A newer change does not wait.
    look_s = vision_section.look_after_s
    waiting: list[WeightSettled | LoadReturned] = []

    def recognize(before: float) -> None:
        while vision is not None and waiting and waiting[0].t + look_s < before:
            for derived in vision.on_settled(waiting.pop(0)):
                deliver(derived)

    end_t = 0.0
    stable = True       # as the controller starts
    for t, kind, _, payload in heapq.merge(scale_items(), frame_items(), other_items(), key=lambda x: x[:3]):
        end_t = max(end_t, t)
        recognize(t)
        if kind == 1:
            for event in events_of(engine, feed_decoded(engine, decoder.decode(t, payload))):
                if isinstance(event, WeightSettled):
                    result.settled += 1
                    recognize(math.inf)
                else:
                    # the load back at its rest waits its turn: the change before it is looked
                    # at on its own time, as the live worker does
                    result.returned += 1
                deliver(event)
                waiting.append(event)
            if engine.stable != stable:
                # The controller sees the load start and stop moving, as the live scale
                # reader's WeightLive tells it (a sign-out waits while the load moves); only
                # the changes: the bill never depends on the live weight.
                stable = engine.stable
                deliver(WeightLive(t, grams=round(engine.live_g, 1), stable=stable))
            scale.after_reading(t)
        elif kind == 2:
            if vision is None:
                continue
            image = cv2.imread(str(payload.path), cv2.IMREAD_COLOR)
            if image is None:
                trip.problems.append(TripProblem(str(payload.path), None, "cannot decode the frame; skipped"))
                continue
            result.frames += 1
            try:
                derived_events = vision.feed(payload.camera, t, image)
            except DashcartError as exc:
                trip.problems.append(TripProblem(str(payload.path), None, str(exc)))
                continue
            for derived in derived_events:
                deliver(derived)
        else:
            deliver(payload)
        if on_problem is not None:
            for p in trip.problems[reported:]:
                on_problem(p)
            reported = len(trip.problems)
    recognize(math.inf)
    # Let everything that was waiting on the clock happen: evidence windows, the checkout
    # countdown, the simulated shopper's last answers.
    for _ in range(1000):
        pending = [injected[0][0]] if injected else []
        deadline = controller.next_deadline()
        if deadline is not None:
            pending.append(deadline)
        if not pending:
            break
        deliver(Tick(max(min(pending), end_t)))
    slow = decoder.pace_problem() if trip.protocol == "hx711-bridge" else None
    if slow:   # outside the contract's 80 Hz: the bill may be misjudged, so it is said
        trip.problems.append(TripProblem(str(trip.scale_log), None, slow))
    if on_problem is not None:
        for p in trip.problems[reported:]:
            on_problem(p)
    scratch.cleanup()
    result.duration_s = end_t
    return result
