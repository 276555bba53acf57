"""The live cart: driver threads, one event queue, the controller, the published snapshot.

Every driver runs in its own thread and puts timestamped events (the monotonic clock) on one
queue: the scale reader (samples -> weighing engine -> ``WeightSettled``/``WeightLive``), the
cameras (frames -> vision pipeline -> ``BarcodeSeen``/``MotionChanged``/``ItemRecognized``), the
beacon scanner (``BeaconSighting``), the checkout sender (order answers), the UI (shopper
actions). The controller thread takes them in order, sends itself a ``Tick`` when a deadline
falls due with nothing else happening, and publishes an immutable :class:`Snapshot` after each
event for the UI, which draws in the main thread (SDL wants it).

Liveness goes through :mod:`dashcart.runtime.watchdog`: the scale reader and the controller loop run under
the :class:`Supervisor` (restarted in-process when they crash or hang), the UI beats once per
frame, and the systemd watchdog is pinged only while all of them make progress. A device that
is missing or fails is reported as a ``DeviceStatus`` (shown on the screen) and the cart carries
on with what it has: weight and touch at the least.

The basket journal (``basket.sqlite``) and the order outbox live under the config's state dir,
so a restarted cart resumes the session where it was.

The controller gets the checkout service (orders into the outbox, answers back on the queue)
and the locator (zones and the lane from sightings and ticks) directly; the runtime keeps the
devices' health (``DeviceStatus``) for the snapshot and the local receipts for the demo.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashcart.config import Config
from dashcart.core.controller import Controller
from dashcart.errors import Misconfigured
from dashcart.events import (
    DeviceStatus,
    Event,
    LoadReturned,
    OrderAcknowledged,
    OrderDelayed,
    OrderRejected,
    ShopperAction,
    Tick,
    WeightSettled,
)
from dashcart.runtime.late_evidence import LateEvidenceHold
from dashcart.runtime.scale_lag import ScaleLagHold
from dashcart.runtime.sdnotify import Notifier
from dashcart.runtime.state_lock import StateDirLock
from dashcart.runtime.watchdog import Heartbeat, Heartbeats, Supervisor, SystemdWatchdog
from dashcart.snapshot import DeviceView, SessionState, Snapshot

if TYPE_CHECKING:
    # Imported where they are used (a cart without cameras never loads the vision stack).
    from dashcart.core.basket import Basket
    from dashcart.core.catalogue import Catalogue
    from dashcart.core.location import Locator
    from dashcart.core.signin import QrSignIn
    from dashcart.core.vision.gallery import Gallery
    from dashcart.core.vision.pipeline import VisionPipeline
    from dashcart.core.vision.recognizer import Recognizer
    from dashcart.drivers.beacon.scanner import BeaconScanner
    from dashcart.drivers.camera.source import FrameSource
    from dashcart.drivers.gpio import LightFollower, NoStatusLight, StatusLight
    from dashcart.drivers.scale import ScaleDriver
    from dashcart.readings import Frame
    from dashcart.runtime.checkout_sender import CheckoutService
    from dashcart.runtime.fleet_cart import CartFleet
    from dashcart.runtime.scale_reader import ScaleEventSource
    from dashcart.runtime.vision_threads import LiveVision
    from dashcart.trips.recorder import TripRecorder

log = logging.getLogger("dashcart.run")

#: A loop silent this long is stalled (its worker is restarted; the watchdog pings pause).
LOOP_DEADLINE_S = 5.0
#: How often the screen hears the live weight while the load moves (the engine sees 80 Hz).
LIVE_WEIGHT_PERIOD_S = 0.1
#: Longest wait for an event before the controller loop beats and looks at the clock.
IDLE_WAIT_S = 0.5
HOLD_POLL_S = 0.02      # how often a deadline waiting for a late recognizer or the scale looks again
#: How long a damaged basket journal moved aside stays for the on-call engineer: it holds the
#: open session's sign-in token and basket (privacy), and a card must not fill with them.
KEEP_DAMAGED_S = 14 * 86400
#: At a stop, how much longer than every loop's shared 5 s the controller loop may take to
#: leave the event it is inside (a commit on a slow SD card) before what waits is handed on:
#: 5 + 4 s leaves systemd's TimeoutStopSec=15s room to close the rest.
CONTROLLER_STOP_GRACE_S = 4.0


@dataclass
class Devices:
    """Hardware handed in from outside (the demo, tests); None: open what the config says.

    ``scale``: an open :class:`dashcart.drivers.scale.ScaleDriver`; ``cameras``: frame sources (not yet
    opened); ``beacons``: a :class:`dashcart.drivers.beacon.scanner.BeaconScanner`.
    """

    scale: ScaleDriver | None = None
    cameras: Sequence[FrameSource] | None = None
    beacons: BeaconScanner | None = None


# The demo store that ships inside the package (catalogue and a few photos per product, laid
# out like the shared data): what the demo runs on a machine that has only the package.
BUNDLED_DATA_DIR = Path(__file__).resolve().parents[1] / "sim" / "demo_store"


def find_data_dir(explicit: str | None = None) -> Path | None:
    """The data folder (demo catalogue, Grocery Store Dataset photos): ``explicit`` (e.g. the
    full dataset, ``--data ../shared/data``), else the demo store bundled with the package."""
    if explicit:
        return Path(explicit)
    if (BUNDLED_DATA_DIR / "catalogue" / "demo_store.csv").is_file():
        return BUNDLED_DATA_DIR
    return None


def open_catalogue(config: Config, data_dir: Path | None = None) -> tuple[Catalogue, str]:
    """The configured catalogue; else, on a practice cart (no store), the demo store's; else an
    empty one. Returns (catalogue, a line saying which)."""
    from dashcart.core.catalogue import Catalogue, NoCatalogueYet, load_catalogue

    db = config.catalogue_db()
    missing = f"{db} is missing"
    if db.is_file():
        try:
            return load_catalogue(db), f"catalogue {db}"
        except NoCatalogueYet:   # photos enrolled ahead of the import: as if there were no database yet
            missing = f"{db} holds only enrolled photos"
    data = data_dir or find_data_dir()
    if config.checkout.store_url:
        # a real store: the demo's prices would be charged to real cards; sell nothing instead
        return Catalogue([], source="(none)"), (f"no catalogue: {missing}; run `dashcart catalogue import FILE.csv` "
                                                f"(the demo catalogue is not used with a store)")
    if data is not None and (data / "catalogue" / "demo_store.csv").is_file():
        csv = data / "catalogue" / "demo_store.csv"
        return Catalogue.from_csv(csv, data / "grocery-store"), f"demo catalogue {csv} ({missing})"
    return Catalogue([], source="(none)"), f"no catalogue: {missing}; run `dashcart catalogue import FILE.csv`"


class CartRuntime:
    """One running cart. ``start()`` brings it up (drivers, controller, watchdog), ``stop()``
    takes it down in order; the UI calls :meth:`snapshot` and :meth:`post`.

    ``on_snapshot(snapshot)`` and ``on_note(entry)`` (each controller log entry: added, removed,
    question, checkout...) are called from the controller thread.
    """

    def __init__(self, config: Config, *, devices: Devices | None = None, notifier: Notifier | None = None,
                 catalogue: Catalogue | None = None, data_dir: Path | None = None, clock: Callable[[], float] = time.monotonic,
                 on_snapshot: Callable[[Snapshot], None] | None = None,
                 on_note: Callable[[dict[str, Any]], None] | None = None,
                 loop_deadline_s: float = LOOP_DEADLINE_S, recorder: TripRecorder | None = None) -> None:
        self.config = config
        self.loop_deadline_s = loop_deadline_s
        self.devices = devices or Devices()
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.data_dir = data_dir
        self.on_snapshot = on_snapshot
        self.on_note = on_note
        #: A :class:`dashcart.trips.recorder.TripRecorder` (``run --record``): gets the scale's lines,
        #: the beacons, the shopper's actions and (if it was asked for them) the frames.
        self.recorder = recorder
        #: The status light and buzzer ([gpio]), following the cart's state from start to stop.
        self.status_light: StatusLight | NoStatusLight | None = None
        self._light_follower: LightFollower | None = None
        self._catalogue = catalogue
        self.queue: queue.Queue[Event] = queue.Queue()
        self.heartbeats = Heartbeats(clock)
        self.watchdog = SystemdWatchdog(self.notifier, self.heartbeats)
        self.supervisor = Supervisor(self.heartbeats, poll_s=min(1.0, loop_deadline_s / 2))
        self.stopped = threading.Event()
        self._state_lock: StateDirLock | None = None
        self.controller: Controller | None = None
        #: Local receipts written this run (no store configured), newest last.
        self.receipts: list[str] = []
        self.device_states: dict[str, DeviceView] = {}
        self._snapshot = Snapshot()
        self._noted = 0
        self._status = ""
        self._scale: ScaleDriver | None = None
        #: The scale reader (:class:`dashcart.runtime.scale_reader.ScaleEventSource`) once started.
        self.scale_source: ScaleEventSource | None = None
        self._vision: VisionPipeline | None = None
        self._live: LiveVision | None = None
        self._late_evidence: LateEvidenceHold | None = None   # with cameras: waits for a late recognizer
        self._scale_lag = ScaleLagHold(self._scale_reported_through)   # deadlines wait for the scale reader
        self._signin: QrSignIn | None = None
        self._signin_lock = threading.Lock()
        self._beacons: BeaconScanner | None = None
        self._service: CheckoutService | None = None
        self._locator: Locator | None = None
        self._basket: Basket | None = None
        self._started = False
        #: The fleet link (:mod:`dashcart.runtime.fleet_cart`); None without a ``[fleet]`` broker.
        self._fleet: CartFleet | None = None
        self._ready = False
        #: Whoever runs this cart starts it again when it stops with :attr:`restart_requested`
        #: (``dashcart run`` does): a fleet config document then takes effect by a restart as soon
        #: as no shopper is using the cart, instead of at the next start.
        self.restartable = False
        #: Why :meth:`request_restart` asked to be started again; '' when it did not.
        self.restart_requested = ""

    # -- the outside's view --------------------------------------------------------------

    def post(self, event: Event) -> None:
        """Put an event on the controller's queue (any thread; never blocks)."""
        if self.recorder is not None:
            self.recorder.event(event)
        self.queue.put_nowait(event)

    def snapshot(self) -> Snapshot:
        """The latest published snapshot (cheap: one reference read)."""
        return self._snapshot

    # The parts the fleet link reports on (dashcart.runtime.fleet_cart.FleetHost), read-only;
    # None until started, or when the cart has no such part.
    @property
    def scale_driver(self) -> ScaleDriver | None:
        return self._scale

    @property
    def vision(self) -> VisionPipeline | None:
        return self._vision

    @property
    def catalogue(self) -> Catalogue | None:
        return self._catalogue

    @property
    def checkout_service(self) -> CheckoutService | None:
        return self._service

    def action(self, action: str, value: str = "", question_id: int | None = None) -> None:
        """A shopper's action, stamped now."""
        self.post(ShopperAction(self.clock(), action, value, question_id))

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir()

    # -- start ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open everything and start the loops. Raises :class:`dashcart.errors.Misconfigured` for a
        config mistake, :class:`dashcart.errors.RetryLater` while another cart uses the state
        directory; missing devices only degrade the cart."""
        self.watchdog.start()   # early: it pings during a slow start too
        state_dir = self.state_dir
        if state_dir.exists() and not state_dir.is_dir():
            raise Misconfigured(f"{state_dir}: not a directory (cart.state_dir)")
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from dashcart.core.basket import JournalWriteFailed
            raise JournalWriteFailed(f"{state_dir}: cannot create the state directory (cart.state_dir): "
                                     f"{exc.strerror or exc}") from None
        self._state_lock = StateDirLock(state_dir)
        self._state_lock.acquire()
        try:
            self._start_in(state_dir)
        except BaseException:
            self._state_lock.release()   # a cart that did not start holds nothing
            raise

    def _start_in(self, state_dir: Path) -> None:
        from dashcart.core.basket import Basket

        if self.config.fleet.broker_url and self._fleet is None:
            from dashcart.runtime.fleet_cart import CartFleet
            self._fleet = CartFleet(self)   # lays the fleet's last applied config over self.config
        if self._catalogue is None:
            self._catalogue, which = open_catalogue(self.config, self.data_dir)
            (log.warning if len(self._catalogue) == 0 else log.info)("%s", which)
            if len(self._catalogue) == 0:
                self._device("catalogue", "down", which)
        catalogue = self._catalogue
        if self.recorder is not None and catalogue.source:
            self.recorder.catalogue(catalogue.source)
        self._basket = self._open_basket(Basket)
        self._service = self._open_checkout(state_dir)
        self._locator = self._open_locator()
        self.controller = Controller.from_config(self.config, catalogue, self._basket, checkout=self._service,
                                                 location=self._locator, scale=self)
        self._noted = len(self.controller.log)
        self._reconcile()
        if self._basket.items or self._basket.session.state != "idle":
            log.info("resuming the session from %s: %s, %d items", self._basket.journal.path,
                     self._basket.session.state, len(self._basket.items))
        self._start_status_light()
        self._publish()
        self._start_scale()
        self._start_cameras(catalogue)
        self._start_beacons()
        if self._service is not None:
            # Supervised like the other loops: a damaged outbox page or a full disk never ends it for good.
            self.supervisor.add("checkout sender", self._sender_loop,
                                max(self.loop_deadline_s, self.config.checkout.timeout_s + 5.0))
        self.supervisor.add("controller", self._controller_loop, self.loop_deadline_s)
        self.supervisor.start()
        self._started = True
        if self._fleet is not None:
            self._fleet.start()

    def ready(self) -> None:
        """Tell systemd the cart is up (READY=1, once)."""
        self._ready = True
        self.notifier.ready(self._status_line(self._snapshot))

    def _open_basket(self, basket_cls: type[Basket]) -> Basket:
        """The journal; a damaged one is moved aside (kept for the on-call engineer) and the cart
        starts clean with a staff notice on the screen: never a traceback, never a silent empty
        basket."""
        from dashcart.core.basket import DamagedJournal
        from dashcart.core.sqlite_files import prune_quarantined, quarantine
        path = Path(self.config.state_dir()) / "basket.db"
        for gone in prune_quarantined(path, KEEP_DAMAGED_S, time.time()):
            log.info("%s: deleted, kept aside for %d days already", gone, KEEP_DAMAGED_S // 86400)
        try:
            return basket_cls.for_config(self.config)
        except DamagedJournal as exc:
            kept = quarantine(path, time.strftime("%Y%m%dT%H%M%S"))
            log.error("%s; kept as %s, starting with an empty basket", exc, kept)
            self._device("storage", "down", f"see staff: the basket journal was damaged ({exc}); kept as {kept.name}")
            return basket_cls.for_config(self.config)

    def _reconcile(self) -> None:
        """The outbox is the truth about orders: settle, adopt or question the journal's checkout."""
        if self._service is None or self.controller is None:
            return
        try:
            orders = self._service.on_record()
        except Exception as exc:  # a damaged outbox: the sender's supervisor reports it
            log.error("reconcile: cannot read the outbox %s: %s", self._service.outbox.path, exc)
            return
        for line in self.controller.reconcile(self.clock(), orders):
            log.warning("reconcile: %s", line)

    def _sender_loop(self, beat: Heartbeat, stop: threading.Event) -> None:
        service = self._service
        assert service is not None, "supervised only once the outbox is open"
        down = self.device_states.get("outbox")
        if down is not None and down.state != "ok":
            # restarted by the supervisor after a failure: trying again (down again if it fails again)
            self._device("outbox", "ok", "sending again")
        try:
            service.loop(self.post, beat, stop)
        except Exception as exc:
            self._device("outbox", "down", f"see staff: cannot send orders: {service.outbox.path}: {exc}")
            raise

    def _save_state(self) -> None:
        """The journal's health as a device: "cannot save, see staff" while a commit fails (read by the
        screen, ``doctor`` and the fleet link's health)."""
        controller = self.controller
        old = self.device_states.get("storage")
        if controller is not None and controller.save_fault:
            message = f"cannot save, see staff: {controller.save_fault}"
            if controller.unsaved > 1:
                message += f" ({controller.unsaved} changes not saved)"
            self._on_device(DeviceStatus(self.clock(), "storage", "down", message))
        elif old is not None and old.state != "ok" and old.message.startswith("cannot save"):
            self._on_device(DeviceStatus(self.clock(), "storage", "ok", ""))

    def _device(self, device: str, state: str, message: str = "") -> None:
        self.post(DeviceStatus(self.clock(), device, state, message))

    def _open_checkout(self, state_dir: Path) -> CheckoutService:
        import sqlite3

        from dashcart.errors import PermanentlyBroken
        from dashcart.runtime.checkout_sender import CheckoutService
        service = None
        try:
            service = CheckoutService(self.config, state_dir=state_dir, clock=self.clock, wall_clock=time.time)
            service.outbox.all()   # a damaged page past the header shows here, not in the sender later
        except (sqlite3.DatabaseError, PermanentlyBroken) as exc:
            if service is not None:
                service.outbox.close()
            if isinstance(exc, PermanentlyBroken):   # a row that is not an order: said by the outbox
                raise
            raise PermanentlyBroken(f"{state_dir / 'outbox.sqlite'}: the outbox is damaged "
                                    f"({' '.join(str(exc).split())}); move it aside for the on-call engineer, "
                                    "orders in it have not been lost") from None
        return service

    def _open_locator(self) -> Locator | None:
        from dashcart.runtime.assemble import open_locator
        return open_locator(self.config)

    def _start_scale(self) -> None:
        from dashcart.core.weighing import WeighingEngine
        from dashcart.runtime.scale_reader import SavedZero, ScaleEventSource
        scale = self.devices.scale
        if scale is None:
            from dashcart.runtime.devices import open_scale
            options = {"on_line": self.recorder.scale_line} if self.recorder is not None else {}
            try:
                scale = open_scale(self.config, **options)
            except OSError as exc:   # e.g. no pseudo-terminals for the simulated bridge
                log.error("scale: cannot start: %s; weight is off", exc)
                self._device("scale", "down", f"cannot start the scale: {exc}")
                return
        self._scale = scale
        cfg = self.config.scale
        engine = WeighingEngine(cfg.offset, cfg.counts_per_gram, self.config.weighing, cfg.capacity_g)
        saved_zero: SavedZero | None = None
        # Only the load-cell bridge reads the same after a restart: a trade scale sets its own
        # zero when it powers up (OIML R 76 initial zero-setting, up to 20 % of its capacity),
        # so after a power cut its first reading says nothing about what the basket held.
        if cfg.protocol == "hx711-bridge":
            saved_zero = SavedZero(self.state_dir / "scale_zero.json", cfg.offset, cfg.counts_per_gram)
            engine.restore_zero(saved_zero.load())
            if self.controller is not None:
                # what went in or out while the cart was down is a change to decide, not the new zero
                engine.expect(self.controller.expected_load_g)
        source = ScaleEventSource(scale, engine, self._from_scale, live_interval_s=LIVE_WEIGHT_PERIOD_S,
                                  saved_zero=saved_zero)
        self.scale_source = source
        self.supervisor.add("scale reader", source.loop, self.loop_deadline_s)

    def request_zero(self) -> None:
        """The controller's scale port (staff "Zero the scale"): zeroed on the scale reader's
        thread at the next rest; how it went is logged, and the screen's weight shows it."""
        source = self.scale_source
        if source is None:
            log.warning("scale: cannot zero: the scale is not running")
            return

        def done(future: Future[str]) -> None:
            try:
                log.info("scale: staff zeroed it: %s", future.result())
            except RuntimeError as exc:
                log.warning("scale: staff could not zero it: %s", exc)
        source.request_zero().add_done_callback(done)

    def _from_scale(self, event: Event) -> None:
        if isinstance(event, (WeightSettled, LoadReturned)) and self._live is not None:
            # The recognizer runs in the vision worker; its answer comes back as an event.
            # Asked first, so the controller loop knows it is at work when the change arrives.
            self._live.worker.submit(event)
        self.post(event)

    def _start_cameras(self, catalogue: Catalogue) -> None:
        sources = self.devices.cameras
        if sources is None and not self.config.cameras.devices:
            log.info("no cameras configured: weight and touch only")
            return
        from dashcart.core.signin import QrSignIn
        from dashcart.runtime.vision_threads import LiveVision, open_recognizer

        recognizer = open_recognizer(self.config, self.post, self.clock())
        self._signin = QrSignIn()
        self._live = LiveVision(self.config, self.post, recognizer=recognizer,
                                gallery=self._gallery(recognizer, catalogue), clock=self.clock,
                                sources=sources, on_frame=self._on_frame, heartbeats=self.heartbeats)
        self._vision = self._live.pipeline
        self._late_evidence = LateEvidenceHold(self._live.worker.working_on, self.config.vision.look_after_s)

    def _gallery(self, recognizer: Recognizer | None, catalogue: Catalogue) -> Gallery | None:
        """The recognizer's gallery for this catalogue (:func:`dashcart.runtime.assemble.open_gallery`)."""
        if recognizer is None:
            return None
        from dashcart.runtime.assemble import open_gallery
        return open_gallery(recognizer.version, catalogue, self.config.catalogue_db())

    def latest_frame(self, camera: str) -> Frame | None:
        """The newest frame ``camera`` delivered (a :class:`dashcart.drivers.camera.ring.Frame`), or None."""
        if self._vision is None or camera not in self._vision.cameras:
            return None
        return self._vision.ring(camera).latest()

    def _on_frame(self, camera: str, frame: Frame) -> None:
        if self.recorder is not None and self._snapshot.state in (SessionState.SHOPPING, SessionState.CHECKOUT):
            # Frames only while a session is open: before it, the shopper holds up their sign-in code.
            self.recorder.frame(camera, frame.t, frame.image)
        self._look_for_signin(camera, frame)

    def _look_for_signin(self, camera: str, frame: Frame) -> None:
        """Nobody signed in: look for the store app's QR code held up to a camera."""
        reader = self._signin
        if reader is None or self._snapshot.state not in (SessionState.IDLE, SessionState.DONE):
            return
        with self._signin_lock:
            signin = reader.on_frame(frame.t, frame.image)
        if signin is not None:
            self.post(signin)

    def _start_beacons(self) -> None:
        scanner = self.devices.beacons
        if scanner is None:
            if self._locator is None and self.config.location.backend == "sim" and not self.config.location.script:
                return
            from dashcart.runtime.devices import open_beacon_scanner
            scanner = open_beacon_scanner(self.config.location, self.clock)
        self._beacons = scanner
        scanner.start(self.post)

    # -- the controller loop ---------------------------------------------------------------

    def _controller_loop(self, beat: Heartbeat, stop: threading.Event) -> None:
        controller = self.controller
        assert controller is not None
        hold, lag = self._late_evidence, self._scale_lag
        while not stop.is_set():
            # A decision whose recognizer is late waits for it (see late_evidence): what would
            # decide it, and all after, is held back meanwhile, and no Tick is sent.
            if hold is not None and hold.held and not hold.must_wait(controller, self.clock()):
                self._release_held(controller, hold, stop)
                continue
            # A deadline the scale reader has not reported up to waits for it (see scale_lag).
            released = lag.release(self.clock())
            if released:
                # The reader has caught up, and what it posted may still be queued (posted while
                # the controller was inside an event): that goes before the held events it
                # precedes, in time order, or the first held one lets the deadline fall due first.
                for late in sorted(released + self._take_queued(), key=lambda e: e.t):
                    if not lag.offer(late, controller.next_deadline(), self.clock()):
                        self._deliver(controller, late)
                continue
            deadline = controller.next_deadline()
            behind = lag.behind(deadline, self.clock())
            if behind or (hold is not None and hold.holding(controller, self.clock())):
                wait = HOLD_POLL_S
            else:
                wait = IDLE_WAIT_S if deadline is None else max(0.0, min(IDLE_WAIT_S, deadline - self.clock()))
            event: Event | None
            try:
                event = self.queue.get(timeout=wait)
            except queue.Empty:
                event = None
            beat.beat()
            if event is None:
                if hold is not None and (hold.holding(controller, self.clock()) or not self.queue.empty()):
                    continue
                if lag.held or lag.behind(controller.next_deadline(), self.clock()) or not self.queue.empty():
                    continue
                event = Tick(self.clock())
            elif lag.offer(event, deadline, self.clock()):
                continue
            self._deliver(controller, event)

    def _deliver(self, controller: Controller, event: Event) -> None:
        if self._late_evidence is not None and self._late_evidence.offer(event, controller):
            return
        self._dispatch_safely(controller, event)

    def _scale_reported_through(self) -> float | None:
        source = self.scale_source
        return None if source is None else source.reported_through()

    def _hand_on_before_stopping(self) -> None:
        """Stopping (an update, a restart, staff switching the cart off): what still waits in the
        queue or behind a late recognizer (a change that settled, a tap) reaches the controller,
        in time order, so that the journal has it, decided or waiting, and a restart picks it up.
        Dropped, a change would be lost: a trade scale's reference after the restart includes it.
        Called once every worker has been stopped (the scale reader's last change is in the
        queue by then, and no controller loop runs beside this), before the journal closes."""
        controller, hold = self.controller, self._late_evidence
        if controller is None:
            return
        if not self.supervisor.join("controller", CONTROLLER_STOP_GRACE_S):
            # still inside one event past every wait: it owns the controller, so what waits
            # stays unhandled (a restart of a load-cell bridge still finds the load)
            log.warning("controller still busy at stop: %d queued event(s) not handed on", self.queue.qsize())
            return
        events = (hold.take_all() if hold is not None else []) + self._scale_lag.take_all() + self._take_queued()
        for event in sorted(events, key=lambda e: e.t):
            # no Tick: the stop is not a moment of the trip's clock (a restored change is
            # decided on the next start); a device's status is that of one we are closing
            if not isinstance(event, (Tick, DeviceStatus)):
                self._dispatch_safely(controller, event)

    def _take_queued(self) -> list[Event]:
        """Everything on the queue now, in the order it came."""
        queued: list[Event] = []
        while True:
            try:
                queued.append(self.queue.get_nowait())
            except queue.Empty:
                return queued

    def _release_held(self, controller: Controller, hold: LateEvidenceHold, stop: threading.Event) -> None:
        """The recognizer is done (or the wait is over). What it posted is on the queue by now:
        the queue's events that come before the held ones go first, in time order (the answer
        among them), then the held ones, until one would decide a newer change whose
        recognizer is still at work."""
        early = [event for event in self._take_queued() if not hold.offer(event, controller)]
        start = hold.held_from   # lowered, perhaps, by a change that settled while others waited
        for event in sorted(early, key=lambda e: e.t):
            if start is not None and event.t >= start:
                hold.insert(event)
            else:
                self._past_the_scale_lag(controller, event)
        while not stop.is_set():
            held = hold.next_held(controller, self.clock())
            if held is None:
                return
            self._past_the_scale_lag(controller, held)

    def _past_the_scale_lag(self, controller: Controller, event: Event) -> None:
        """Hand on ``event`` from behind the late recognizer, unless it is past a due deadline
        the scale reader has not reported up to: then it waits for the scale (see scale_lag) as
        it would have, had it not waited for the recognizer first. The deadlines up to it fall
        due one at a time, since handing it on would pass them all at once (the change the
        recognizer was late for, then the order), and any of them may be one the scale lags."""
        for _ in range(100):   # bounded as Controller.advance_to is
            due = controller.next_deadline()
            if due is None or due > event.t:
                break
            if self._scale_lag.offer(event, due, self.clock()):
                return
            self._dispatch_safely(controller, Tick(due))
        self._dispatch_safely(controller, event)

    def _dispatch_safely(self, controller: Controller, event: Event) -> None:
        try:
            self._dispatch(controller, event)
        except Exception:  # one bad event must not take the cart down; the log says which
            log.exception("controller: handling %r failed", event)

    def _dispatch(self, controller: Controller, event: Event) -> None:
        controller.advance_to(event.t)
        if isinstance(event, DeviceStatus):
            self._on_device(event)
        elif isinstance(event, OrderAcknowledged) and event.receipt_path:
            self.receipts.append(event.receipt_path)
        controller.handle(event)
        if (controller.save_fault and isinstance(event, Tick)) or \
                isinstance(event, (OrderAcknowledged, OrderDelayed, OrderRejected)):
            # An answer for an order the journal could not record, or a disk that is back: the
            # outbox says where the checkout really is.
            self._reconcile()
        self._save_state()
        self._publish()

    def _on_device(self, status: DeviceStatus) -> None:
        old = self.device_states.get(status.device)
        if old is None or old.state != status.state or old.message != status.message:
            if self.stopped.is_set():
                level = logging.DEBUG  # we closed it ourselves on the way out: not news for the operator
            else:
                level = logging.INFO if status.state == "ok" else logging.WARNING
            log.log(level, "device %s: %s %s", status.device, status.state, status.message)
        self.device_states[status.device] = DeviceView(status.device, status.state, status.message, status.fault)
        if self._fleet is not None:
            self._fleet.device(status)

    def _publish(self) -> None:
        controller = self.controller
        if controller is None:
            return
        snap = controller.snapshot()
        devices = tuple(v for _, v in sorted(self.device_states.items()))
        if devices != snap.devices:
            snap = dataclasses.replace(snap, devices=devices)
        changed = snap is not self._snapshot
        self._snapshot = snap
        if len(controller.log) > self._noted:
            new = controller.log[self._noted:]
            self._noted = len(controller.log)
            for entry in new:
                if entry.get("type") == "staff_call":
                    log.warning("a shopper calls for staff at this cart (%s)", entry.get("where", ""))
                elif entry.get("type") == "disputed":
                    log.warning("an answer (%s) left out what the cameras were sure of (%s): staff may check "
                                "the basket", entry.get("answer", ""), ", ".join(entry.get("seen", ())))
                elif entry.get("type") == "unverified":
                    log.warning("an answer (%s) the cameras did not confirm may have been %s instead, which the "
                                "weight cannot tell: staff may check the basket", entry.get("answer", ""),
                                ", ".join(entry.get("could_be", ())))
                elif entry.get("type") == "possible_swap":
                    log.warning("the load moved and came back while the cameras saw %s appear, which is not on "
                                "the bill: staff may check the basket", ", ".join(entry.get("seen", ())))
                if self.on_note is not None:
                    self.on_note(entry)
                if self._fleet is not None:
                    self._fleet.note(entry)
        if changed:
            status = self._status_line(snap)
            if status != self._status:
                self._status = status
                self.notifier.status(status)
            if self._light_follower is not None:
                self._light_follower(snap)
            if self.on_snapshot is not None:
                self.on_snapshot(snap)

    def _start_status_light(self) -> None:
        from dashcart.drivers.gpio import LightFollower, open_status_light
        self.status_light = open_status_light(self.config.gpio)   # no GPIO: one log line, no light
        self._light_follower = LightFollower(self.status_light)

    @staticmethod
    def _status_line(snap: Snapshot) -> str:
        items = sum(line.qty for line in snap.lines)
        text = f"{snap.state.value}: {items} item{'s' if items != 1 else ''}"
        if snap.questions:
            text += f", {len(snap.questions)} question{'s' if len(snap.questions) != 1 else ''}"
        down = [d.device for d in snap.devices if d.state != "ok"]
        if down:
            text += f"; degraded: {', '.join(down)}"
        return text

    # -- the UI and the main thread -----------------------------------------------------------

    def ui_beat(self) -> Callable[[], Snapshot]:
        """The UI's ``get_snapshot``: called once per frame, so it also beats the UI's heartbeat
        (a hung UI stops the watchdog pings) and sends READY on the first frame."""
        beat = self.heartbeats.register("ui", self.loop_deadline_s, replace=True)

        def get() -> Snapshot:
            beat.beat()
            if not self._ready:
                self.ready()
            return self._snapshot
        return get

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`request_stop` (e.g. SIGTERM); True when stopping."""
        return self.stopped.wait(timeout)

    def request_stop(self) -> None:
        self.stopped.set()

    def request_restart(self, why: str) -> None:
        """Stop, to be started again at once by whoever runs the cart (:attr:`restartable`)."""
        self.restart_requested = why
        self.stopped.set()

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop in order: no new input, the controller, then the parts it talks to."""
        if self.restart_requested:
            # For systemd a reload, not a stop: the same process starts again and says READY=1.
            self.notifier.reloading(f"restarting: {self.restart_requested}")
        else:
            self.notifier.stopping("shutting down")
        self.stopped.set()
        if self._beacons is not None:
            self._beacons.stop()
        if self._live is not None:
            self._live.stop()
        if self._scale is not None:
            # First, so that a reader hung inside read() wakes up and can leave.
            try:
                self._scale.close()
            except Exception:  # already gone with the device
                log.debug("scale close failed", exc_info=True)
        self.supervisor.stop()
        self._hand_on_before_stopping()
        if self._service is not None:
            self._service.close()
        if self._basket is not None:
            self._basket.journal.close()
        if self.recorder is not None:
            self.recorder.close()
        if self._fleet is not None:
            self._fleet.stop()
        if self.status_light is not None:
            self.status_light.close()
        self.watchdog.stop()
        if self._state_lock is not None:
            self._state_lock.release()
        self.notifier.close()

    def settled_basket(self) -> dict[str, tuple[int, list[float]]]:
        """code -> (units, weighed lots) of the basket now."""
        out: dict[str, tuple[int, list[float]]] = {}
        for line in self._snapshot.lines:
            qty, lots = out.get(line.code, (0, []))
            if line.sold_by == "weight" and line.weight_g is not None:
                lots = lots + [line.weight_g]
            out[line.code] = (qty + line.qty, lots)
        return out


def describe_change(old: Snapshot, new: Snapshot) -> list[str]:
    """One line per basket or session change between two snapshots (the headless log)."""
    out: list[str] = []
    if old.state != new.state:
        out.append(f"session {old.state.value} -> {new.state.value}")
    before = {(line.code, line.weight_g if line.sold_by == "weight" else None): line for line in old.lines}
    after = {(line.code, line.weight_g if line.sold_by == "weight" else None): line for line in new.lines}
    for key, line in after.items():
        was = before.get(key)
        if was is None or was.qty != line.qty:
            what = f"{line.weight_g:.0f} g" if line.sold_by == "weight" and line.weight_g else f"x{line.qty}"
            out.append(f"basket: {line.name} ({line.code}) {what}  total {new.total_cents / 100:.2f}")
    for key, line in before.items():
        if key not in after:
            out.append(f"basket: {line.name} ({line.code}) removed  total {new.total_cents / 100:.2f}")
    old_q = {q.id for q in old.questions}
    for q in new.questions:
        if q.id not in old_q:
            names = ", ".join(c.code for c in q.candidates[:5]) or "-"
            out.append(f"question {q.id}: {q.kind} {q.delta_g:+.0f} g; candidates {names}")
    if new.checkout is not None and (old.checkout is None or old.checkout.stage != new.checkout.stage):
        out.append(f"checkout: {new.checkout.stage}" + (f" ({new.checkout.reason})" if new.checkout.reason else ""))
    old_dev = {d.device: d.state for d in old.devices}
    for d in new.devices:
        if old_dev.get(d.device) != d.state:
            out.append(f"device {d.device}: {d.state}" + (f" ({d.message})" if d.message else ""))
    return out


@dataclass
class ChangeLogger:
    """``on_snapshot`` for a headless cart: basket and session changes as lines on ``write``."""

    write: Callable[[str], None]
    last: Snapshot = field(default_factory=Snapshot)

    def __call__(self, snap: Snapshot) -> None:
        for line in describe_change(self.last, snap):
            self.write(line)
        self.last = snap


def wait_for(runtime: CartRuntime, predicate: Callable[[Snapshot], bool], timeout_s: float,
             poll_s: float = 0.05) -> Snapshot | None:
    """The first published snapshot for which ``predicate`` holds, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        snap = runtime.snapshot()
        if predicate(snap):
            return snap
        if time.monotonic() >= deadline or runtime.stopped.is_set():
            return None
        time.sleep(poll_s)


def is_state(state: SessionState) -> Callable[[Snapshot], bool]:
    return lambda snap: snap.state is state
