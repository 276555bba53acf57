"""The simulated cart: the whole live cart on simulated hardware, and a scripted trip through it.

Everything between the simulated devices and the screen is the code a real cart runs
(:class:`dashcart.runtime.cart_runtime.CartRuntime`): the simulated scale bridge streams ``hx711-bridge/1`` on a
pseudo-terminal that the real serial driver reads; a simulated camera films a basket view
composited from the demo catalogue's product photos and feeds the real capture thread, vision
pipeline (barcodes, motion, change detection, the LiteRT recognizer); scripted beacons (zone
iBeacons and an authenticated Eddystone-EID lane) go through the real locator and lane
detector; the order goes through the real checkout service and outbox, and with no store
configured it ends in a local receipt.

The script (:data:`TRIP`) is what a shopper does: sign in, put produce and cartons in, take
one out, answer the cart's question, roll through the checkout lane. It runs in real time
(the scale's 80 Hz stream and the camera's frames are real-time streams); it waits for the
cart to react to each step rather than sleeping a fixed time, with a timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dashcart.config import Config
from dashcart.errors import Misconfigured, PermanentlyBroken
from dashcart.events import BeaconSighting, Event
from dashcart.runtime.cart_runtime import CartRuntime, Devices, find_data_dir, is_state, wait_for
from dashcart.snapshot import SessionState, Snapshot

log = logging.getLogger("dashcart.demo")

#: The demo shopper's app token (the store app's QR code says this).
DEMO_TOKEN = "dcs1:demo-shopper-0000000001"
#: The demo store's lane key: hex, 16 bytes. Demo only; a store provisions its own.
DEMO_LANE_KEY = "d4c7a1e0b2f3968574c1d2e3f4a5b6c7"
BEACON_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
ZONE_BEACONS = {
    "produce-fruit": f"ibeacon:{BEACON_UUID}:1:1",
    "dairy": f"ibeacon:{BEACON_UUID}:1:2",
    "dairy-alternatives": f"ibeacon:{BEACON_UUID}:1:3",
}
LANE_BEACONS = ("lane1-entry", "lane1-exit")
CAMERA = "top"


@dataclass(frozen=True)
class Put:
    """The shopper puts ``code`` in: ``grams`` on the scale; the barcode shown to the camera or
    not; for produce, the PLU entered on the screen first (``plu``)."""

    code: str
    grams: float
    barcode: bool = True
    plu: bool = False
    zone: str = ""


@dataclass(frozen=True)
class Take:
    """The shopper takes ``code`` out again."""

    code: str


TRIP: tuple[Put | Take, ...] = (
    Put("4011", 640.0, barcode=False, plu=True, zone="produce-fruit"),         # bananas, by weight
    Put("2410000001415", 1584.0, zone="dairy"),                                 # milk, barcode shown
    Put("2490000001493", 528.0, zone="dairy-alternatives"),                     # soyghurt, barcode shown
    Take("2490000001493"),                                                      # changed their mind
    Put("2400000001409", 1578.0, barcode=False),   # Arla medium fat milk, barcode hidden: look-alike cartons of its weight, a question
)


def truth_of(trip: tuple[Put | Take, ...]) -> dict[str, tuple[int, list[float]]]:
    """code -> (units, weighed lots) the basket must end with."""
    from collections import Counter
    counts: Counter[str] = Counter()
    grams: dict[str, list[float]] = {}
    for step in trip:
        if isinstance(step, Put):
            counts[step.code] += 1
            grams.setdefault(step.code, []).append(step.grams)
        else:
            counts[step.code] -= 1
            grams[step.code].pop()
    return {code: (n, grams[code]) for code, n in counts.items() if n > 0}


def basket_matches(truth: dict[str, tuple[int, list[float]]], got: dict[str, tuple[int, list[float]]],
                   catalogue: Any) -> list[str]:
    """What differs between the basket and the truth, one line each; empty when right."""
    problems = []
    for code in sorted(set(truth) | set(got)):
        want, have = truth.get(code), got.get(code)
        product = catalogue.get(code)
        name = product.name if product else code
        if want is None:
            problems.append(f"{name} ({code}) is in the basket but was never put in")
        elif have is None:
            problems.append(f"{name} ({code}) is missing from the basket")
        elif product is not None and product.by_weight:
            a, b = sorted(want[1]), sorted(have[1])
            if len(a) != len(b) or any(abs(x - y) > max(8.0, 0.02 * x) for x, y in zip(a, b)):
                problems.append(f"{name} ({code}): weighed {b} g, put in {a} g")
        elif want[0] != have[0]:
            problems.append(f"{name} ({code}): {have[0]} in the basket, {want[0]} put in")
    return problems


def demo_config(base: Config, state_dir: Path) -> Config:
    """``base`` with the simulated cart's devices, site and demo keys; state in ``state_dir``."""
    location = dataclasses.replace(
        base.location, backend="sim", script="", zones={v: k for k, v in ZONE_BEACONS.items()},
        lane=[f"eddystone-eid:{name}" for name in LANE_BEACONS], allow_unauthenticated_lane=False)
    checkout = dataclasses.replace(base.checkout, store_url="", lane_key=DEMO_LANE_KEY)
    return dataclasses.replace(
        base, cart=dataclasses.replace(base.cart, state_dir=str(state_dir)),
        scale=dataclasses.replace(base.scale, backend="sim", port=""),
        location=location, checkout=checkout)


class DemoBeacons:
    """Scripted beacons with the BLE scanner's interface: the zone beacon of wherever the cart
    is (loud) and the others (faint), and on :meth:`pass_lane` the lane's two Eddystone-EID
    beacons, entry then exit, broadcasting the identifiers the lane key gives for now."""

    def __init__(self, lane_key: bytes, period_s: int, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, rate_hz: float = 6.0, seed: int = 0) -> None:
        self._key, self._period = lane_key, period_s
        self._clock, self._wall = clock, wall_clock
        self._period_s = 1.0 / rate_hz
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.zone = ""
        self._lane: list[tuple[float, float, str, float]] = []   # (from, until, beacon, rssi), monotonic

    def start(self, sink: Callable[[Event], None]) -> None:
        self._thread = threading.Thread(target=self._run, args=(sink,), name="beacons-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def move_to(self, zone: str) -> None:
        with self._lock:
            self.zone = zone

    def pass_lane(self, dwell_s: float = 2.0) -> None:
        """The cart rolls through the lane: near the entry beacon, then near the exit beacon."""
        now = self._clock()
        with self._lock:
            self.zone = ""
            self._lane = [(now, now + dwell_s, LANE_BEACONS[0], -48.0),
                          (now + dwell_s, now + 2 * dwell_s, LANE_BEACONS[0], -72.0),
                          (now + dwell_s, now + 2 * dwell_s, LANE_BEACONS[1], -48.0)]

    def _run(self, sink: Callable[[Event], None]) -> None:
        from dashcart.core.lane_auth import current_eid
        while not self._stop.wait(self._period_s):
            now, wall = self._clock(), self._wall()
            with self._lock:
                zone, lane = self.zone, list(self._lane)
            for name, key in ZONE_BEACONS.items():
                kind, _, ident = key.partition(":")
                rssi = (-60.0 if name == zone else -90.0) + self._rng.gauss(0, 2)
                sink(BeaconSighting(now, kind, ident, round(rssi), wall_t=wall))
            for start, until, beacon, rssi in lane:
                if start <= now < until:
                    sink(BeaconSighting(now, "eddystone-eid", current_eid(self._key, beacon, wall, self._period),
                                        round(rssi + self._rng.gauss(0, 1.5)), wall_t=wall))


class ProductPhotos:
    """Product photos for the simulated camera: the catalogue's picture, else a labelled box."""

    def __init__(self, catalogue: Any) -> None:
        self.catalogue = catalogue
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, code: str) -> np.ndarray:
        if code not in self._cache:
            import cv2

            from dashcart.sim.camera import placeholder
            product = self.catalogue.get(code)
            image = cv2.imread(product.image, cv2.IMREAD_COLOR) if product is not None and product.image else None
            if image is not None:
                scale = 240 / max(image.shape[:2])
                image = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            self._cache[code] = image if image is not None else placeholder(product.name if product else code)
        return self._cache[code]


class Screenshots:
    """The real UI renderer drawing the cart's snapshot off-screen, saved as PNG files."""

    def __init__(self, out: Path, config: Config, post: Callable[[Any], None], *, deferred: bool = False) -> None:
        import pygame

        from dashcart.ui.app import App
        from dashcart.ui.layout import parse_resolution
        pygame.font.init()
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.size = parse_resolution(config.ui.resolution)
        self._snap_t = 0.0
        self.app = App(config, post, lambda: self._snap_t, self.size, has_camera=True)   # the demo's basket camera
        self._surface = pygame.Surface(self.size)
        self.saved: list[Path] = []
        # With the window up, pygame draws in the main thread only: shots wait for drain().
        self._deferred = deferred
        self._pending: list[tuple[str, Snapshot]] = []
        self._lock = threading.Lock()

    def shoot(self, name: str, snap: Snapshot) -> None:
        if self._deferred:
            with self._lock:
                self._pending.append((name, snap))
            return
        self._save(name, snap)

    def drain(self) -> None:
        """Take the deferred shots (call from the thread that draws)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for name, snap in pending:
            self._save(name, snap)

    def _save(self, name: str, snap: Snapshot) -> Path:
        import pygame
        self._snap_t = snap.t
        self.app.render(snap, self._surface, full=True)
        path = self.out / f"{len(self.saved) + 1:02d}-{name}.png"
        pygame.image.save(self._surface, str(path))
        self.saved.append(path)
        return path


@dataclass
class DemoResult:
    ok: bool
    problems: list[str]
    basket: dict[str, tuple[int, list[float]]]
    receipt: str | None
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    questions_answered: int = 0


class SimulatedCart:
    """The runtime on simulated devices the script (or a person) drives."""

    def __init__(self, config: Config, data_dir: Path | None, state_dir: Path, *,
                 on_snapshot: Callable[[Snapshot], None] | None = None,
                 on_note: Callable[[dict[str, Any]], None] | None = None) -> None:
        from dashcart.config import parse_hex_key
        from dashcart.core.catalogue import Catalogue
        from dashcart.drivers.scale.serial_scale import SerialScale
        from dashcart.sim.camera import BasketView, SceneCamera
        from dashcart.sim.scale_bridge import SimulatedBridge

        data = data_dir or find_data_dir()
        if data is None or not (data / "catalogue" / "demo_store.csv").is_file():
            raise Misconfigured(
                "the demo needs a data folder with catalogue/demo_store.csv and grocery-store/: pass --data DIR "
                f"(looked {'in ' + str(data) if data else 'for the demo store bundled with the package'})")
        self.config = demo_config(config, state_dir)
        self.catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv", data / "grocery-store")
        self.photos = ProductPhotos(self.catalogue)
        scale = self.config.scale
        # The real serial driver reads the simulated bridge's pseudo-terminal: every byte is real.
        self.bridge = SimulatedBridge(offset=scale.offset, counts_per_gram=scale.counts_per_gram, protocol=scale.protocol)
        self.view = BasketView()
        self.beacons = DemoBeacons(parse_hex_key(DEMO_LANE_KEY, "demo lane key"), self.config.checkout.eid_period_s)
        self.runtime = CartRuntime(self.config, catalogue=self.catalogue, on_snapshot=on_snapshot, on_note=on_note,
                                   devices=Devices(scale=None, cameras=[SceneCamera(CAMERA, self.view)],
                                                   beacons=self.beacons))
        self._scale_factory = lambda: SerialScale(self.bridge.start(), scale.protocol, scale.baudrate,
                                                  on_status=self.runtime.post, owned=self.bridge)
        self._in_scene: dict[str, list[int]] = {}

    def start(self) -> None:
        try:
            self.runtime.devices.scale = self._scale_factory()
        except OSError as exc:
            raise PermanentlyBroken(f"cannot open a pseudo-terminal for the simulated scale: {exc}") from None
        self.runtime.start()

    def stop(self) -> None:
        self.runtime.stop()

    # what a shopper does ----------------------------------------------------------------

    def put(self, code: str, grams: float, *, barcode: bool = True, hold_s: float = 1.6) -> None:
        """Put a product in: (show its barcode,) lay it in the basket, the scale takes the weight."""
        from dashcart.core.catalogue import widen_to_gtin13
        from dashcart.sim.camera import barcode_label
        photo = self.photos(code)
        self.view.hand(True)
        if barcode:
            self.view.hold_up(photo, barcode_label(widen_to_gtin13(code)))
            time.sleep(hold_s)
            self.view.hold_up(None)
        else:
            time.sleep(0.5)
        self._in_scene.setdefault(code, []).append(self.view.place(photo))
        self.view.hand(False)
        self.bridge.place(grams)

    def show_qr(self, token: str, seconds: float = 5.0) -> bool:
        """Hold the phone with the app's QR code up to the camera until the cart signs in."""
        from dashcart.sim.camera import qr_code
        self.view.hold_up(qr_code(token))
        try:
            return wait_for(self.runtime, is_state(SessionState.SHOPPING), seconds) is not None
        finally:
            self.view.hold_up(None)

    def take(self, code: str, grams: float) -> None:
        self.view.hand(True)
        time.sleep(0.5)
        items = self._in_scene.get(code) or []
        if items:
            self.view.take(items.pop())
        self.view.hand(False)
        self.bridge.lift(grams)


def _line_of(snap: Snapshot, code: str) -> int:
    return sum(line.qty for line in snap.lines if line.code == code)


def _more_of(code: str, before: int) -> Callable[[Snapshot], bool]:
    """A snapshot test: more of ``code`` in the basket than ``before``."""
    return lambda snap: _line_of(snap, code) > before


def _less_of(code: str, before: int) -> Callable[[Snapshot], bool]:
    """A snapshot test: less of ``code`` in the basket than ``before``."""
    return lambda snap: _line_of(snap, code) < before


class ScriptedTrip:
    """Plays :data:`TRIP` on a :class:`SimulatedCart`, waiting for the cart after each step."""

    def __init__(self, cart: SimulatedCart, say: Callable[[str], None],
                 shots: Screenshots | None = None, step_timeout_s: float = 12.0,
                 trip: tuple[Put | Take, ...] = TRIP) -> None:
        self.cart = cart
        self.say = say
        self.shots = shots
        self.timeout = step_timeout_s
        self.trip = trip
        self.answered = 0
        self.problems: list[str] = []
        self._seen: set[int] = set()

    def _shot(self, name: str) -> None:
        if self.shots is not None:
            self.shots.shoot(name, self.cart.runtime.snapshot())

    def _wait(self, what: str, predicate: Callable[[Snapshot], bool], timeout: float | None = None) -> Snapshot | None:
        snap = wait_for(self.cart.runtime, predicate, timeout or self.timeout)
        if snap is None:
            self.problems.append(f"timed out waiting for {what}")
            self.say(f"!! timed out waiting for {what}")
        return snap

    def _new_question(self, snap: Snapshot) -> Any:
        return next((q for q in snap.questions if q.id not in self._seen and q.kind != "remove_unknown"), None)

    def _settle(self, code: str, what: str, done: Callable[[Snapshot], bool]) -> None:
        """Wait until ``done``; a question the cart asks meanwhile is answered with the truth
        (the shopper knows what they put in or took out)."""
        for _ in range(3):
            snap = self._wait(what, lambda s: done(s) or self._new_question(s) is not None)
            if snap is None:
                return
            question = self._new_question(snap)
            if question is None:
                return
            self._seen.add(question.id)
            self._shot(f"question-{question.id}")
            names = ", ".join(c.name for c in question.candidates[:4]) or "no suggestion"
            product = self.cart.catalogue[code]
            self.say(f"cart asks about {question.delta_g:+.0f} g ({question.kind}: {names}); "
                     f"shopper taps {product.name}")
            self.cart.runtime.action("choose", code, question.id)
            self.answered += 1
        self._wait(what, done)

    def _weighed(self, code: str, grams: float) -> None:
        """The weighing screen once the scale is at rest with what was just placed, before the
        cart adds it (the cameras' wait); a shot missed in that short window is no fault."""
        snap = wait_for(self.cart.runtime, lambda s: s.produce_entry is not None and s.weight_stable
                        and abs((s.produce_weight_g or 0.0) - grams) < 0.05 * grams, 5.0)
        if snap is not None and self.shots is not None:
            self.shots.shoot(f"weighing-{code}", snap)

    def run(self) -> DemoResult:
        start = time.monotonic()
        cart, runtime = self.cart, self.cart.runtime
        catalogue = cart.catalogue
        self._shot("welcome")
        self.say("shopper signs in: holds the store app's QR code up to the camera")
        if not cart.show_qr(DEMO_TOKEN, self.timeout):
            self.problems.append("the cart did not read the sign-in QR code")
        time.sleep(0.5)   # the scale settles at zero first
        grams: dict[str, list[float]] = {}
        for step in self.trip:
            product = catalogue[step.code]
            if isinstance(step, Put):
                if step.zone:
                    self.say(f"cart moves to {step.zone}")
                    cart.beacons.move_to(step.zone)
                before = _line_of(runtime.snapshot(), step.code)
                if step.plu:
                    self.say(f"shopper enters PLU {step.code} ({product.name}) on the screen")
                    runtime.action("plu", step.code)
                    self._wait("the produce entry", lambda s: s.produce_entry is not None, 5)
                    self._shot(f"plu-{step.code}")
                how = "barcode to the camera" if step.barcode else "barcode hidden" if not step.plu else "no barcode"
                self.say(f"shopper puts in {product.name} ({step.code}), {step.grams:.0f} g, {how}")
                cart.put(step.code, step.grams, barcode=step.barcode)
                grams.setdefault(step.code, []).append(step.grams)
                if step.plu:
                    self._weighed(step.code, step.grams)
                self._settle(step.code, f"{product.name} in the basket", _more_of(step.code, before))
                self._shot(f"added-{step.code}")
            else:
                before = _line_of(runtime.snapshot(), step.code)
                weight = grams[step.code].pop()
                self.say(f"shopper takes {product.name} ({step.code}) out again")
                cart.take(step.code, weight)
                self._settle(step.code, f"{product.name} to leave the basket", _less_of(step.code, before))
                self._shot(f"removed-{step.code}")
            time.sleep(0.3)
        self.say("cart rolls through the checkout lane (authenticated lane beacons)")
        cart.beacons.pass_lane()
        snap = self._wait("the checkout", lambda s: s.state in (SessionState.CHECKOUT, SessionState.DONE), 15)
        if snap is not None and snap.state is SessionState.CHECKOUT:
            self._shot("checkout-summary")
            # "Pay now" is on the summary only past the lane's exit (before it the order waits
            # for the exit anyway); else the cancel window runs out and the order goes by itself
            past_exit = self._wait("the lane's exit", lambda s: s.state is SessionState.DONE or (
                s.checkout is not None and s.checkout.payable), 15)
            if past_exit is not None and past_exit.state is SessionState.CHECKOUT \
                    and past_exit.checkout is not None and past_exit.checkout.stage == "summary":
                self.say("shopper taps Pay now on the summary screen, past the lane's exit")
                runtime.action("confirm")
        done = self._wait("payment", is_state(SessionState.DONE), 15)
        self._shot("paid")
        receipt = None
        if runtime.receipts:
            receipt = runtime.receipts[-1]
        elif done is not None:
            self.problems.append("paid, but no receipt was written")
        truth = truth_of(self.trip)
        got = runtime.settled_basket()
        problems = list(self.problems) + basket_matches(truth, got, catalogue)
        return DemoResult(ok=not problems and done is not None and receipt is not None, problems=problems,
                          basket=got, receipt=receipt, screenshots=list(self.shots.saved) if self.shots else [],
                          seconds=time.monotonic() - start, questions_answered=self.answered)


def fresh_state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="dashcart-demo-"))


def format_note(entry: dict[str, Any], t0: float) -> str:
    """A controller log entry as one line for the demo's event listing."""
    data = {k: v for k, v in entry.items() if k not in ("t", "type")}
    details = " ".join(f"{k}={v}" for k, v in data.items())
    return f"{entry['t'] - t0:7.2f}    cart {entry['type']:<10} {details}"
