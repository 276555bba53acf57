"""The running cart's side of the fleet link: what it reports and what it lets the fleet do.

:class:`CartFleet` is made by :class:`dashcart.runtime.cart_runtime.CartRuntime` only when
``[fleet] broker_url`` is set. It lays the last applied fleet config over the config file
(before anything is built from it), asks the cart to start again when a new one is applied and
no shopper is using it, collects the health the fleet sees, turns the controller's notes and
device changes into telemetry, and executes the commands: ``locate`` (the status light blinks
and the buzzer beeps), ``recalibrate_zero`` (on the scale reader's own thread) and
``upload_logs`` (the link's own). Every call from the cart's threads is non-blocking.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dashcart import __version__
from dashcart.config import Config
from dashcart.events import DeviceStatus
from dashcart.runtime.scale_reader import ZERO_WAIT_S, ScaleEventSource
from dashcart.snapshot import DeviceView, SessionState, Snapshot

if TYPE_CHECKING:
    from dashcart.core.catalogue import Catalogue
    from dashcart.core.vision.pipeline import VisionPipeline
    from dashcart.drivers.gpio import NoStatusLight, StatusLight
    from dashcart.drivers.scale import ScaleDriver
    from dashcart.runtime.checkout_sender import CheckoutService
    from dashcart.runtime.fleet import FleetLink

log = logging.getLogger("dashcart.fleet")

#: Basket events (added, removed, question) the questions-per-event rate looks back over.
QUESTION_WINDOW = 200
#: How long ``locate`` blinks and beeps unless the command says (``seconds``), and at most.
LOCATE_S = 10.0
LOCATE_MAX_S = 120.0
#: How often the cart's counters go out as telemetry.
COUNTERS_EVERY_S = 300.0
#: How often ``locate`` beeps again.
LOCATE_BEEP_S = 2.0
#: Controller notes that are not worth the fleet's bandwidth (the screen's business).
QUIET_NOTES = frozenset({"produce_entry"})
#: How often a cart with a new config document waiting looks whether its shopper has gone.
IDLE_POLL_S = 0.5


class FleetHost(Protocol):
    """What the fleet link needs of the cart it serves. :class:`CartRuntime` is the one host;
    a protocol, so that this module need not import the runtime that makes it (no circle)."""

    config: Config
    clock: Callable[[], float]
    device_states: dict[str, DeviceView]
    scale_source: ScaleEventSource | None
    status_light: StatusLight | NoStatusLight | None
    restartable: bool

    @property
    def scale_driver(self) -> ScaleDriver | None: ...

    @property
    def vision(self) -> VisionPipeline | None: ...

    @property
    def catalogue(self) -> Catalogue | None: ...

    @property
    def checkout_service(self) -> CheckoutService | None: ...

    def snapshot(self) -> Snapshot: ...

    def request_restart(self, why: str) -> None: ...


class CartFleet:
    def __init__(self, runtime: FleetHost) -> None:
        from dashcart.runtime.fleet import with_applied_config
        self.runtime = runtime
        self.base_config: Config = runtime.config
        runtime.config, self.applied_version = with_applied_config(runtime.config)
        self.link: FleetLink | None = None
        self._basket_events: collections.deque[bool] = collections.deque(maxlen=QUESTION_WINDOW)
        self._light_lock = threading.Lock()
        self._stopping = threading.Event()
        self.counters_every_s = COUNTERS_EVERY_S
        self._counters_at = time.monotonic()
        #: A document applied (stored) that the cart does not run yet; 0: none.
        self.pending_config: int = 0
        self._restart_waiter: threading.Thread | None = None

    # -- the runtime's hooks ------------------------------------------------------------------

    def start(self) -> None:
        """At the end of the cart's start: everything else is up, so a document it was built
        from is no longer on trial (:func:`dashcart.runtime.fleet.with_applied_config`)."""
        from dashcart.runtime.fleet import FleetLink, started
        config = self.runtime.config
        started(config.state_dir())
        self.link = FleetLink(config.fleet, config.cart.id, config.state_dir(), health=self.health,
                              commands={"locate": self._locate, "recalibrate_zero": self._recalibrate_zero},
                              on_config=self._on_config, base_config=self.base_config,
                              applied_version=self.applied_version)
        self.link.start()

    def stop(self) -> None:
        self._stopping.set()   # a locate in progress ends now
        if self.link is not None:
            self.link.stop()

    def note(self, entry: dict[str, Any]) -> None:
        """A controller note (controller thread): telemetry, and the questions-per-event count."""
        kind = entry.get("type", "")
        if kind in ("added", "removed", "question") and entry.get("by") != "shopper":
            self._basket_events.append(kind == "question")
        if self.link is not None and kind not in QUIET_NOTES:
            data = {k: v for k, v in entry.items() if k != "type"}
            if data.get("action") == "signin":
                data.pop("value", None)   # a sign-in's value may be the shopper's token: never the fleet's
            # a shopper calling for staff, answering against what the cameras were sure of or
            # what they could not check (their own bags), or perhaps swapping goods in one motion,
            # is kept and sent like a fault: someone must come, or check the basket at the exit
            self.link.telemetry(f"note.{kind}", data,
                                fault=kind in ("staff_call", "disputed", "unverified", "possible_swap"))

    def device(self, status: DeviceStatus) -> None:
        """A device changed state (controller thread): telemetry; anything but ok is a fault."""
        if self.link is not None:
            self.link.telemetry("device", {"device": status.device, "state": status.state, "message": status.message},
                                fault=status.state != "ok")

    # -- health ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What ``health`` carries (the link's thread; reads only published or locked state)."""
        runtime = self.runtime
        config = runtime.config
        snap = runtime.snapshot()
        devices = dict(runtime.device_states)
        health: dict[str, Any] = {
            "software": f"dashcart {__version__}",
            "model": self._model(),
            "catalogue": self._catalogue(),
            "scale": self._scale(devices),
            "cameras": self._cameras(devices),
            "beacons": self._beacons(devices),
            "outbox_depth": self._orders_waiting(),
            "questions_per_event": self._questions(),
            "disk_free_mb": self._disk_free_mb(config),
            "zone": snap.zone,
            "session": snap.state.value,
            "devices_down": sorted(name for name, view in devices.items() if view.state != "ok"),
        }
        health["config_version"] = self.applied_version   # the one the cart was built from
        if self.pending_config:
            health["config_pending_restart"] = self.pending_config
        self._maybe_send_counters(health)
        return health

    def _maybe_send_counters(self, health: dict[str, Any]) -> None:
        """Every ``counters_every_s`` (health is sampled every 2 s on the link's thread): the
        scale's and the link's counters and the question rate, as one telemetry event."""
        now = time.monotonic()
        if self.link is None or now - self._counters_at < self.counters_every_s:
            return
        self._counters_at = now
        counters: dict[str, Any] = {"questions_per_event": health["questions_per_event"],
                                    "link": dataclasses.asdict(self.link.counters)}
        if self.runtime.scale_source is not None:
            counters["weighing"] = dataclasses.asdict(self.runtime.scale_source.engine.counters)
        if self.runtime.scale_driver is not None:
            counters["scale_driver"] = self.runtime.scale_driver.counters.as_dict()
        self.link.telemetry("counters", counters)

    def _model(self) -> str:
        vision = self.runtime.vision
        if vision is None:
            return "none"
        recognizer = vision.recognizer
        return recognizer.version if recognizer is not None and recognizer.version else "barcodes only"

    def _catalogue(self) -> dict[str, Any]:
        catalogue = self.runtime.catalogue
        if catalogue is None:
            return {"source": "", "products": 0}
        return {"source": catalogue.source, "products": len(catalogue)}

    def _scale(self, devices: dict[str, Any]) -> dict[str, Any]:
        config = self.runtime.config
        view = devices.get("scale")
        out: dict[str, Any] = {"device": view.state if view is not None else ("off" if self.runtime.scale_source is None
                                                                                 else "starting"),
                               "zero_offset_g": round(config.scale.offset / config.scale.counts_per_gram, 1),
                               "last_calibration": _mtime(config.source)}
        if self.runtime.scale_source is not None:
            engine = self.runtime.scale_source.engine
            out["state"] = engine.state.value
            # The engine's zero (zero setting and tracking since start), relative to the
            # calibrated offset: how far the load cell has drifted.
            out["drift_g"] = round(engine.zero_g, 1)
        return out

    def _cameras(self, devices: dict[str, Any]) -> dict[str, Any]:
        vision = self.runtime.vision
        out: dict[str, Any] = {}
        running = vision.cameras if vision is not None else ()
        names = list(running)
        names += [d.partition(":")[2] for d in devices if d.startswith("camera:") and d.partition(":")[2] not in names]
        now = self.runtime.clock()
        for name in names:
            view = devices.get(f"camera:{name}")
            fps = 0.0
            if vision is not None and name in running:
                frames = vision.ring(name).between(now - 2.0, now)
                if len(frames) >= 2:
                    span = frames[-1].t - frames[0].t
                    fps = (len(frames) - 1) / span if span > 0 else 0.0
            out[name] = {"ok": view is None or view.state == "ok", "fps": round(fps, 1),
                         **({"message": view.message} if view is not None and view.state != "ok" else {})}
        return out

    def _beacons(self, devices: dict[str, Any]) -> dict[str, Any]:
        config = self.runtime.config
        view = devices.get("bluetooth")
        return {"backend": config.location.backend, "state": view.state if view is not None else "ok",
                "zones": len(config.location.zones), "lane": len(config.location.lane)}

    def _orders_waiting(self) -> int:
        service = self.runtime.checkout_service
        if service is None:
            return 0
        try:
            return len(service.pending())
        except Exception:   # a damaged outbox: the device states say so
            return -1

    def _questions(self) -> dict[str, Any]:
        events = list(self._basket_events)
        rate = sum(events) / len(events) if events else 0.0
        return {"rate": round(rate, 3), "events": len(events)}

    @staticmethod
    def _disk_free_mb(config: Config) -> int:
        try:
            return int(shutil.disk_usage(config.state_dir()).free // (1024 * 1024))
        except OSError:
            return -1

    # -- commands and config ------------------------------------------------------------------

    def _on_config(self, version: int, config: Config) -> None:
        """A new document is stored. The controller, scale and cameras were built from the old
        one, so the cart starts again from the new one as soon as no shopper is using it (at
        once when idle), if whoever runs it can start it again (``dashcart run``); elsewhere
        (the demo, a recording) at its next start. Until then health names it as pending."""
        self.pending_config = version
        if not self.runtime.restartable:
            log.warning("fleet: config version %d stored; it takes effect at the next start of the cart", version)
            return
        log.warning("fleet: config version %d stored; the cart starts again with it when no shopper is using it",
                    version)
        if self._restart_waiter is None:
            self._restart_waiter = threading.Thread(target=self._restart_when_idle, name="fleet-config", daemon=True)
            self._restart_waiter.start()

    def _restart_when_idle(self) -> None:
        """Never in a shopper's session: a trip is weighed, asked about and paid under one config."""
        while not self._stopping.wait(IDLE_POLL_S):
            if self.runtime.snapshot().state is SessionState.IDLE:
                self.runtime.request_restart(f"fleet config version {self.pending_config}")
                return

    def _locate(self, body: dict[str, Any]) -> str:
        """The cart's own status light (the runtime's, which follows the snapshots) blinks amber
        and the buzzer double-beeps every ``LOCATE_BEEP_S``; then the light says what the cart
        says again. A shopper's action meanwhile may take the light back: the cart comes first."""
        from dashcart.drivers.gpio import NoStatusLight, Signal, signal_for
        seconds = body.get("seconds", LOCATE_S)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 < seconds <= LOCATE_MAX_S:
            raise ValueError(f"locate: seconds must be a number in (0, {LOCATE_MAX_S:.0f}]")
        light = self.runtime.status_light
        if light is None or isinstance(light, NoStatusLight):
            raise RuntimeError("no status light or buzzer on this cart (gpio)")
        end = time.monotonic() + float(seconds)
        with self._light_lock:
            while True:
                light.show(Signal.ATTENTION)
                left = end - time.monotonic()
                if left <= 0 or self._stopping.wait(min(LOCATE_BEEP_S, left)):
                    break
            light.show(signal_for(self.runtime.snapshot()))
        return f"status light and buzzer for {float(seconds):g} s"

    def _recalibrate_zero(self, body: dict[str, Any]) -> str:
        source = self.runtime.scale_source
        if source is None:
            raise RuntimeError("no scale on this cart")
        return source.request_zero().result(timeout=ZERO_WAIT_S + 5.0)


def _mtime(path: str) -> str:
    """When the config file (where ``dashcart calibrate`` writes) last changed, ISO 8601 UTC."""
    if not path:
        return ""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(path).st_mtime))
    except OSError:
        return ""
