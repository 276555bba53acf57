"""The vision pipeline: frames and settled weight changes in, events out.

The same code runs live and in replay: time comes only from the ``t`` the caller passes
(a frame's capture time, a weight event's time), never from the clock.

Per frame (cheap, always): keep it in the camera's ring, check the camera's health,
run the motion gate. While hands are in (or just left), scan for barcodes and put the
reads through the multi-frame consensus. Per settled weight change (expensive, rare):
pick a still frame from before the load began to move and the newest one up to
``vision.look_after_s`` after it came to rest, find what changed, and run the recognizer
on the crop of each camera that saw it.

Recognition returns its :class:`ItemRecognized` events stamped with the weight event's time.
Live, the runtime calls :meth:`on_settled` from its own recognition worker
(:mod:`dashcart.runtime.vision_threads`) while the camera threads keep feeding frames; in
replay it is called in line, so a trip replays the same way every time. Nothing here starts a
thread or writes a file: the frame history is the caller's (a thread-safe ring live, a plain
buffer in replay) and the maintainer's debug capture is a callback.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dashcart.config import CamerasSection, VisionSection
from dashcart.core.appearance import encode_look
from dashcart.core.vision.barcode import BarcodeReader, Consensus
from dashcart.core.vision.change import Change, find_change
from dashcart.core.vision.gallery import Gallery
from dashcart.core.vision.health import CameraHealth
from dashcart.core.vision.motion import MotionGate, thumbnail
from dashcart.core.vision.recognizer import Recognizer
from dashcart.events import BarcodeSeen, Event, ItemRecognized, LoadReturned, WeightSettled
from dashcart.readings import Frame

log = logging.getLogger(__name__)

#: A removal's candidate that the after frame shows at least this nearly as clearly as the
#: before frame did is still in the basket (cosine similarity to the gallery).
STILL_THERE_MARGIN = 0.05


class FrameHistory(Protocol):
    """The last seconds of one camera's frames (live: the capture thread's ring)."""

    seconds: float

    def add(self, t: float, image: np.ndarray) -> Frame | None: ...
    def at_or_before(self, t: float) -> Frame | None: ...
    def latest(self) -> Frame | None: ...
    def between(self, t0: float, t1: float) -> list[Frame]: ...


class FrameBuffer:
    """A :class:`FrameHistory` for one caller (replay, tests): frames of the last ``seconds``.
    Adding is idempotent by time, as the live ring's is."""

    def __init__(self, camera: str, seconds: float = 4.0) -> None:
        self.camera = camera
        self.seconds = seconds
        self._frames: deque[Frame] = deque()

    def add(self, t: float, image: np.ndarray) -> Frame | None:
        if self._frames and t <= self._frames[-1].t:
            return None
        frame = Frame(self.camera, t, image)
        self._frames.append(frame)
        while self._frames and self._frames[0].t < t - self.seconds:
            self._frames.popleft()
        return frame

    def at_or_before(self, t: float) -> Frame | None:
        for frame in reversed(self._frames):
            if frame.t <= t:
                return frame
        return None

    def latest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    def between(self, t0: float, t1: float) -> list[Frame]:
        """Frames with ``t0 <= t <= t1``, oldest first (the fleet's frame rate reads them)."""
        return [frame for frame in self._frames if t0 <= frame.t <= t1]

    def __len__(self) -> int:
        return len(self._frames)


#: What the cameras look at: a settled weight change, or the load back at its rest after moving.
WeightEvent = WeightSettled | LoadReturned
#: The maintainer's debug capture: (weight event, camera, change, before, after).
CaptureHook = Callable[[WeightEvent, str, Change, Frame, Frame], None]


@dataclass
class _Camera:
    ring: FrameHistory
    gate: MotionGate
    health: CameraHealth
    consensus: Consensus
    reader: BarcodeReader | None
    # (t, motion level) per frame. Written by the camera's feed thread and read by the
    # recognition worker live: replaced whole (an immutable tuple), never changed in place,
    # so the reader always sees one consistent history without a lock.
    levels: tuple[tuple[float, float], ...] = ()
    frames_since_scan: int = 0
    hands_in_at: deque[float] = field(default_factory=deque)  # when the gate last went active


class VisionPipeline:
    """One per cart. ``recognizer`` and ``gallery`` may be None (no model, or a broken
    one): barcodes and motion still work, recognition is skipped."""

    def __init__(self, cameras: Sequence[str], vision: VisionSection = VisionSection(),
                 camera_settings: CamerasSection = CamerasSection(), *,
                 recognizer: Recognizer | None = None, gallery: Gallery | None = None,
                 rings: dict[str, FrameHistory] | None = None, capture: CaptureHook | None = None) -> None:
        """``rings``: each camera's frame history (default: a :class:`FrameBuffer` each);
        ``capture``: called with the frames and crop behind each recognition (debug capture)."""
        self.vision = vision
        self.recognizer = recognizer
        self.gallery = gallery
        self.capture = capture
        # A still frame is one whose motion level is at most this: the gate's own threshold.
        self._still_level = vision.motion_threshold
        # When the last settled change came to rest: the load back at its rest is compared with
        # the basket after it, never before it (that would be the change's item again).
        self._settled_t = -float("inf")
        self._cameras: dict[str, _Camera] = {}
        for cam in cameras:
            ring = (rings or {}).get(cam)
            if ring is None:  # (not `or`: an empty ring is falsy)
                ring = FrameBuffer(cam, camera_settings.buffer_s)
            self._cameras[cam] = _Camera(
                ring=ring,
                gate=MotionGate(cam, vision.motion_threshold, vision.motion_hold_s),
                health=CameraHealth(cam, camera_settings.covered_s, camera_settings.frozen_s),
                consensus=Consensus(vision.barcode_agree, vision.barcode_window_s),
                # One reader per camera: cameras may be fed from different threads.
                reader=BarcodeReader(fallback=vision.barcode_fallback) if vision.enabled else None)

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    def ring(self, camera: str) -> FrameHistory:
        return self._cameras[camera].ring

    def hands_in(self) -> bool:
        return any(c.gate.active for c in self._cameras.values())

    # -- per frame ---------------------------------------------------------------------

    def feed(self, camera_id: str, t: float, frame: np.ndarray) -> list[Event]:
        """Process one frame of ``camera_id`` taken at ``t``; returns the events it causes
        (MotionChanged, DeviceStatus for a covered/frozen camera, BarcodeSeen)."""
        cam = self._cameras.get(camera_id)
        if cam is None:
            raise KeyError(f"unknown camera {camera_id!r} (known: {', '.join(self._cameras)})")
        cam.ring.add(t, frame)
        thumb = thumbnail(frame)
        events: list[Event] = list(cam.health.update(t, frame, thumb))
        motion = cam.gate.update(t, thumb)
        events.extend(motion)
        for change in motion:
            if change.active:
                cam.hands_in_at.append(t)
        while cam.hands_in_at and cam.hands_in_at[0] < t - cam.ring.seconds:
            cam.hands_in_at.popleft()
        horizon = t - cam.ring.seconds
        cam.levels = tuple(item for item in cam.levels if item[0] >= horizon) + ((t, cam.gate.level),)
        if cam.reader is not None and cam.gate.active:
            cam.frames_since_scan += 1
            if cam.frames_since_scan >= self.vision.barcode_every:
                cam.frames_since_scan = 0
                for code in cam.consensus.add(t, cam.reader.read(frame)):
                    events.append(BarcodeSeen(t, camera_id, code.gtin13, code.format))
        return events

    # -- per settled weight change -----------------------------------------------------

    def _still_frame(self, cam: _Camera, until: float) -> Frame | None:
        """The newest frame taken no later than ``until`` with hands still (else the newest
        frame before ``until`` at all)."""
        for t, level in reversed(cam.levels):
            if t <= until and level <= self._still_level:
                frame = cam.ring.at_or_before(t)
                if frame is not None and frame.t == t:
                    return frame
        return cam.ring.at_or_before(until)

    def find_changes(self, event: WeightEvent) -> list[tuple[str, Change, Frame, Frame]]:
        """What changed on each camera for ``event``: (camera, change, before, after),
        biggest change first. For a :class:`LoadReturned`, what is there now ("added")."""
        direction = "removed" if isinstance(event, WeightSettled) and event.delta_g < 0 else "added"
        found = []
        for name, cam in self._cameras.items():
            if 0 < event.started_t <= event.t:
                began = event.started_t
            else:
                # The weighing didn't say when the load began to move: use when hands
                # last came in before it settled.
                began = max((t for t in list(cam.hands_in_at) if t <= event.t), default=event.t)
            # Before: still, and before the load began to move (minus a frame, since the
            # hand is in view a moment before the item touches the basket).
            before = self._still_frame(cam, began - 0.1)
            if isinstance(event, LoadReturned) and (before is None or before.t <= self._settled_t):
                continue   # no still look at the basket since the last change settled
            # After: the newest frame up to look_after_s after the load settled, not the newest
            # *still* one: a hand held still over the item it just put down is still too, and
            # the frame in which it has gone differs from that one (the basket changed), so the
            # still rule picked the hand; and a hand resting on the item as the load settles has
            # mostly gone a moment later (20 generated calib-split trips, 287 crops of items
            # going in: 81 reached the frame's edge, an arm in them, with the still rule, 66 with
            # the newest frame at the settle, 41 with the newest 0.3 s after it; the truth among
            # the recognizer's first three 67.6 %, 71.8 %, 78.7 %).
            # For the load back at its rest, though, only a basket at rest with no hand in view:
            # a hand bringing the next item in (the load nudged and back) shows that item, not
            # yet in the basket.
            if isinstance(event, LoadReturned):
                after = self._still_frame(cam, event.t + self.vision.look_after_s)
                if after is None or after.t <= event.t:
                    continue
            else:
                after = cam.ring.at_or_before(event.t + self.vision.look_after_s)
            if before is None or after is None or before.t >= after.t:
                continue
            change = find_change(before.image, after.image, direction)
            if change is not None:
                found.append((name, change, before, after))
        found.sort(key=lambda item: -item[1].area)
        return found

    def on_settled(self, event: WeightEvent) -> list[Event]:
        """Recognize what the settled weight change ``event`` put in or took out, once the
        frames up to ``event.t + vision.look_after_s`` are in (replay feeds them first; live,
        the recognition worker waits that long). Returns the :class:`ItemRecognized` (none
        when no camera saw a change, or without a model)."""
        if isinstance(event, WeightSettled):
            self._settled_t = max(self._settled_t, event.t)
        if not self.vision.enabled or self.recognizer is None or self.gallery is None or not self._cameras:
            return []
        return self._recognize(event)

    def _recognize(self, event: WeightEvent) -> list[Event]:
        """One recognition per camera that saw the change, the biggest change first: each
        camera sees the item from its own side, and fusion averages what they say. For the load
        back at its rest, two per camera: what lies in the changed place now ("added") and what
        lay there before ("removed"), so that a swap in one motion is seen from both sides."""
        assert self.recognizer is not None and self.gallery is not None
        events: list[Event] = []
        for camera, change, before, after in self.find_changes(event):
            embedding = self.recognizer.embed(change.crop)
            candidates = tuple(self.gallery.rank(embedding, self.vision.top_k))
            still_there: tuple[tuple[str, float], ...] = ()
            if change.direction == "removed":
                candidates, still_there = self._not_still_there(candidates, change, after)
            if self.capture is not None:
                self.capture(event, camera, change, before, after)
            events.append(ItemRecognized(event.t, camera, change.direction, candidates, box=change.box,
                                         look=encode_look(embedding), still_there=still_there))
            if isinstance(event, LoadReturned):
                x0, y0, x1, y1 = change.box
                was = self.recognizer.embed(before.image[y0:y1, x0:x1])
                events.append(ItemRecognized(event.t, camera, "removed", tuple(self.gallery.rank(was, self.vision.top_k)),
                                             box=change.box, look=encode_look(was)))
        return events

    def _not_still_there(self, candidates: tuple[tuple[str, float], ...], change: Change, after: Frame
                         ) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        """A removal's crop comes from the before frame, and an item taken from under others
        leaves a crop that shows mostly them. What the recognizer also finds, as clearly, in
        the same place of the after frame is still in the basket: it is not what left. Returns
        (what may have left, what is still there): the second is kept, because one of several
        units taken out leaves the others showing, and a weak candidate left alone must not
        take all the recognizer's confidence."""
        x0, y0, x1, y1 = change.box
        assert self.recognizer is not None and self.gallery is not None
        remaining = dict(self.gallery.rank(self.recognizer.embed(after.image[y0:y1, x0:x1]), self.vision.top_k))
        gone = tuple((code, score) for code, score in candidates if remaining.get(code, 0.0) < score - STILL_THERE_MARGIN)
        return gone, tuple(c for c in candidates if c not in gone)
