"""Scale liveness and fault survival, live on the simulated scale (real serial driver on a pty)
and in replay: how fast a mute scale is reported, whether a corrupt-line flood is reported with
the right counts, and whether thousands of corrupt lines, silences and unplug/replug cycles
cause a crash or a phantom weight change.

    python -m bench.bench_scale_faults [--cycles 10] [--corrupt 10000] [--trials 5]

Targets (issue 19): a mute scale reported within 2 s; a corrupt-line flood reported with the
right counts; 10,000 corrupt lines, silences and unplug/replug cycles: 0 crashes, 0 phantoms.
"""

from __future__ import annotations

import argparse
import logging
import queue
import statistics
import threading
import time

from dashcart.core.weighing import WeighingEngine
from dashcart.drivers.scale.serial_scale import SerialScale
from dashcart.events import DeviceStatus, WeightSettled
from dashcart.runtime.scale_reader import ScaleEventSource
from dashcart.sim.load_script import Fault, Lift, LoadScript, Place, render_scale_log, render_sics_log
from dashcart.sim.scale_bridge import SimulatedBridge
from dashcart.trips.scale_replay import replay_pairs

OFFSET, CPG = 5000, 420.0
JUNK = "R 12 x\x00junk 7F"   # never a valid line of either protocol


class Live:
    """The real driver and the event source on a simulated scale, in a worker thread."""

    def __init__(self, protocol: str) -> None:
        self.bridge = SimulatedBridge(LoadScript(0.0), seed=11, offset=OFFSET, counts_per_gram=CPG, protocol=protocol)
        port = self.bridge.start()
        self.driver = SerialScale(port, protocol, backoff_s=(0.05, 0.5))
        self.events: queue.Queue = queue.Queue()
        self.source = ScaleEventSource(self.driver, WeighingEngine(OFFSET, CPG), self.events.put)
        self.stop = threading.Event()
        self.crashed: list[BaseException] = []
        self.worker = threading.Thread(target=self._loop, daemon=True)
        self.worker.start()

    def _loop(self) -> None:
        class Beat:
            def beat(self) -> None:
                pass
        try:
            self.source.loop(Beat(), self.stop)
        except BaseException as exc:   # a crash is what this bench counts
            self.crashed.append(exc)

    def wait(self, predicate, timeout: float = 20.0) -> list:
        got, end = [], time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            got.append(event)
            if predicate(event):
                return got
        raise SystemExit(f"bench_scale_faults: gave up waiting; counters {self.driver.counters}")

    def drain(self, seconds: float) -> list:
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                got.append(self.events.get(timeout=0.05))
            except queue.Empty:
                pass
        return got

    def close(self) -> None:
        self.stop.set()
        self.worker.join(timeout=5)
        self.driver.close()
        self.bridge.stop()


def status(state: str):
    return lambda e: isinstance(e, DeviceStatus) and e.state == state


def mute_latency(protocol: str, trials: int) -> list[float]:
    live = Live(protocol)
    try:
        live.wait(lambda e: isinstance(e, DeviceStatus) and e.state == "ok")
        live.drain(1.5)
        out = []
        for _ in range(trials):
            muted = time.monotonic()
            live.bridge.mute()
            live.wait(status("down"))
            out.append(time.monotonic() - muted)
            live.bridge.mute(False)
            live.wait(status("ok"))
            live.drain(0.5)
        return out
    finally:
        live.close()


def flood(protocol: str, corrupt: int) -> dict[str, object]:
    live = Live(protocol)
    try:
        live.wait(lambda e: isinstance(e, DeviceStatus) and e.state == "ok")
        live.drain(1.5)
        before = live.driver.counters.corrupt
        got: list = []
        sent = 0
        while sent < corrupt:      # about 2,000 junk lines a second on top of the readings
            n = min(100, corrupt - sent)
            live.bridge.inject(JUNK, n)
            sent += n
            got += live.drain(0.05)
        got += live.drain(2.5)
        degraded = [e for e in got if isinstance(e, DeviceStatus) and e.state == "degraded"]
        return {"sent": sent, "counted": live.driver.counters.corrupt - before, "reported": bool(degraded),
                "message": degraded[0].message if degraded else "",
                "ok_after": any(isinstance(e, DeviceStatus) and e.state == "ok" for e in got),
                "phantoms": sum(isinstance(e, WeightSettled) for e in got), "crashes": len(live.crashed)}
    finally:
        live.close()


def cycles(protocol: str, n: int) -> dict[str, int]:
    """n rounds of: an item placed, a silence, an unplug during which an item is lifted."""
    live = Live(protocol)
    changes: list[float] = []
    expected: list[float] = []
    try:
        live.wait(lambda e: isinstance(e, DeviceStatus) and e.state == "ok")
        live.drain(1.5)
        for k in range(n):
            grams = 200 + 35 * k
            live.bridge.place(grams)
            expected.append(grams)
            changes += [e.delta_g for e in live.wait(lambda e: isinstance(e, WeightSettled)) if isinstance(e, WeightSettled)]
            live.drain(0.5)
            live.bridge.fault("silence", duration_s=1.5)
            changes += [e.delta_g for e in live.drain(2.5) if isinstance(e, WeightSettled)]
            live.bridge.fault("disconnect", duration_s=1.0)
            time.sleep(0.3)
            live.bridge.lift(grams)
            expected.append(-grams)
            changes += [e.delta_g for e in live.wait(lambda e: isinstance(e, WeightSettled)) if isinstance(e, WeightSettled)]
            changes += [e.delta_g for e in live.drain(0.8) if isinstance(e, WeightSettled)]
        counters = live.driver.counters
        right = sum(abs(c - e) <= max(5.0, 0.005 * abs(e)) for c, e in zip(changes, expected))
        return {"expected": len(expected), "reported": len(changes), "right": right,
                "phantoms": max(0, len(changes) - right), "silences": counters.silences,
                "reconnects": counters.reconnects, "crashes": len(live.crashed)}
    finally:
        live.close()


def replayed(corrupt: int) -> dict[str, dict[str, int]]:
    """The same faults in replay, at scale: ``corrupt`` junk lines, silences and unplugs."""
    out = {}
    for protocol in ("hx711-bridge", "mt-sics"):
        events = []
        t = 2.0
        for k in range(20):
            events += [Place(t, 300 + 10 * k), Fault(t + 4, "silence", 2.0), Fault(t + 8, "disconnect", 2.0),
                       Lift(t + 9, 300 + 10 * k)]
            t += 16
        script = LoadScript(t + 4, tuple(events))
        if protocol == "mt-sics":
            pairs = render_sics_log(script, seed=3)
        else:
            pairs = render_scale_log(script, seed=3, offset=OFFSET, counts_per_gram=CPG)
        # the junk lines among the scale's own, spread over the whole trip
        junk = [(round(1.0 + i * (t - 1.0) / corrupt, 4), JUNK) for i in range(corrupt)]
        pairs = sorted(pairs + junk, key=lambda pair: pair[0])
        result = replay_pairs(pairs, protocol, OFFSET, CPG)
        truth = [c.delta_g for c in script.truth()]
        got = [c.delta_g for c in result.changes]
        right = sum(abs(c - e) <= max(5.0, 0.005 * abs(e)) for c, e in zip(got, truth))
        out[protocol] = {"junk lines": corrupt, "corrupt counted": result.counters.corrupt,
                         "expected": len(truth), "reported": len(got), "right": right,
                         "phantoms": max(0, len(got) - right)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--corrupt", type=int, default=10000)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)   # the driver's warnings are what is measured here
    for protocol in ("hx711-bridge", "mt-sics"):
        lat = mute_latency(protocol, args.trials)
        print(f"{protocol}: mute scale reported after median {statistics.median(lat):.2f} s, "
              f"max {max(lat):.2f} s ({len(lat)} trials; target <= 2 s)")
        f = flood(protocol, args.corrupt)
        print(f"{protocol}: corrupt flood: {f['sent']} junk lines sent, {f['counted']} counted, reported "
              f"{'yes' if f['reported'] else 'NO'} ({f['message']!r}), ok again {'yes' if f['ok_after'] else 'NO'}, "
              f"{f['phantoms']} phantoms, {f['crashes']} crashes")
        c = cycles(protocol, args.cycles)
        print(f"{protocol}: {args.cycles} place / silence / unplug-lift cycles: {c['right']} of {c['expected']} "
              f"changes right, {c['reported']} reported, {c['phantoms']} phantoms, {c['silences']} silences and "
              f"{c['reconnects']} reconnects seen, {c['crashes']} crashes")
    for protocol, r in replayed(args.corrupt).items():
        print(f"{protocol} replay: {r['junk lines']} junk lines ({r['corrupt counted']} counted corrupt), 20 silences, "
              f"20 unplugs: {r['right']} of {r['expected']} changes right, {r['reported']} reported, "
              f"{r['phantoms']} phantoms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
