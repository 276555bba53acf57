"""Fleet link benchmarks against a real Eclipse Mosquitto on loopback (Debian's package).

    python -m bench.bench_fleet [--carts 200] [--quick]

Many carts are simulated as real :class:`dashcart.runtime.fleet.FleetLink` objects (each with its
own on-disk outbox and paho client) in a few worker processes (paho uses select(), which fails
past 1,024 descriptors), ``dashcart fleet-ingest`` runs as its own process, and the bench kills,
restarts and pauses the broker. Prints the measured value next to each target of issue 20.

1. 200 carts at 1 message/s, the broker SIGKILLed and restarted mid-stream: exact per-cart count.
2. A 60 s outage: nothing lost, every cart back within 10 s, reconnects per second; then a
   signed config to the whole store (p99 to ``reported``), carts that were offline when it was
   sent (convergence after their reconnect), and forged, unsigned, invalid and older documents.
3. Offline detection: a crashed cart process (SIGKILL) and a silent one (SIGSTOP, no FIN).
4. One cart's overhead: CPU and memory of a link at 1 message/s.
5. The controller with the broker absent against no fleet at all: event-to-snapshot latency and
   the lane-to-receipt checkout.
6. Real carts (``dashcart run``) taking a store-wide document: reported, then running it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dashcart.config import FleetSection
from dashcart.core.fleet_config import signed_message
from dashcart.runtime.fleet import FleetLink, LinkState, make_client, parse_broker_url
from dashcart.runtime.fleet_ingest import accounting
from tests.runtime.mosquitto_broker import Mosquitto

REPO = Path(__file__).resolve().parent.parent

STORE = "bench"
SEED_KEY = bytes(range(32))
CARTS_PER_WORKER = 50


# -- the worker: many carts in one process -----------------------------------------------------


class BenchLink(FleetLink):
    """A link that remembers when each connection came up (wall clock)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.connect_times: list[float] = []

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        super()._on_connect(client, userdata, flags, reason, properties)
        if self.state is LinkState.CONNECTED:
            self.connect_times.append(time.time())


def worker(args: argparse.Namespace) -> None:
    section = FleetSection(broker_url=args.url, store_id=STORE, config_public_key=args.public_key,
                           keepalive_s=args.keepalive, reconnect_max_s=8.0, resend_after_s=5.0)
    ids = [f"cart-{args.index * CARTS_PER_WORKER + i:04d}" for i in range(args.carts)]
    root = Path(args.dir)
    rng = random.Random(args.index)

    def make(cart: str) -> BenchLink:
        link = BenchLink(section, cart, root / cart, capture_logs=False, rng=random.Random(rng.random()),
                         health=lambda: {"model": "bench", "zone": ""})
        link.start()
        return link

    links = {cart: make(cart) for cart in ids}
    history: dict[str, list[dict[str, Any]]] = {cart: [] for cart in ids}
    sent = {cart: 0 for cart in ids}
    offline = ids[:args.offline_count]
    t0 = args.t0
    went_offline = came_back = False
    next_round = t0 + args.send_from
    while time.time() < t0 + args.send_until:
        now = time.time()
        if args.offline_at and not went_offline and now >= t0 + args.offline_at:
            went_offline = True
            for cart in offline:
                link = links[cart]
                link.stop()
                history[cart].append({"boot_id": link.boot_id, "sent": sent[cart], "connects": link.connect_times})
                sent[cart] = 0
                links[cart] = None  # type: ignore[assignment]
        if args.online_at and went_offline and not came_back and now >= t0 + args.online_at:
            came_back = True
            for cart in offline:
                links[cart] = make(cart)
        if now >= next_round:
            for cart in ids:
                link = links[cart]
                if link is not None and link.telemetry("tick", {"n": sent[cart] + 1, "pad": "x" * 64}):
                    sent[cart] += 1
            next_round += 1.0
        time.sleep(0.02)
    # Drain: every cart's outbox empty (all acknowledged), or the deadline.
    deadline = t0 + args.end
    while time.time() < deadline:
        if all(link is None or (link.unacked == 0 and link._queue.empty()) for link in links.values()):
            break
        time.sleep(0.5)
    for cart, link in links.items():
        if link is None:
            continue
        history[cart].append({"boot_id": link.boot_id, "sent": sent[cart], "connects": link.connect_times,
                              "left": link.unacked, "dropped": link.counters.dropped})
    for link in links.values():
        if link is not None:
            link.stop(timeout=2.0)
    Path(args.report).write_text(json.dumps(history))


# -- the main process ------------------------------------------------------------------------------


class Watcher:
    """Every status and config/reported message (and health, if asked), with the wall time it arrived."""

    def __init__(self, url: str, leaves: tuple[str, ...] = ("status", "config/reported")) -> None:
        self.address = parse_broker_url(url)
        self.leaves = leaves
        self.events: list[tuple[float, str, str, Any]] = []
        self.lock = threading.Lock()
        self.client: Any = None
        self._connect()

    def _connect(self) -> None:
        client = make_client(f"bench-watch-{os.getpid()}-{time.monotonic_ns()}", clean_session=True,
                             address=self.address, reconnect=True)
        client.reconnect_delay_set(0.2, 1.0)
        client.on_connect = lambda c, u, f, r, p: c.subscribe([(f"dashcart/v1/{STORE}/+/{leaf}", 1) for leaf in self.leaves])
        client.on_message = self._on_message
        client.connect_async(self.address.host, self.address.port, keepalive=5)
        client.loop_start()
        self.client = client

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        parts = message.topic.split("/")
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        with self.lock:
            self.events.append((time.time(), parts[3], "/".join(parts[4:]), body))

    def publish(self, topic: str, body: Any) -> None:
        self.client.publish(topic, json.dumps(body), qos=1, retain=True).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sign(version: int, doc: dict[str, Any]) -> dict[str, Any]:
    from nacl.signing import SigningKey
    key = SigningKey(SEED_KEY)
    return {"version": version, "doc": doc, "sig": key.sign(signed_message(doc, version)).signature.hex()}


def public_key() -> str:
    from nacl.signing import SigningKey
    return bytes(SigningKey(SEED_KEY).verify_key).hex()


def start_workers(carts: int, url: str, root: Path, t0: float, plan: dict[str, float], offline_per_worker: int = 0,
                  keepalive: int = 30) -> list[tuple[subprocess.Popen[bytes], Path]]:
    workers = []
    for index in range((carts + CARTS_PER_WORKER - 1) // CARTS_PER_WORKER):
        n = min(CARTS_PER_WORKER, carts - index * CARTS_PER_WORKER)
        report = root / f"worker-{index}.json"
        cmd = [sys.executable, "-m", "bench.bench_fleet", "--worker", "--index", str(index), "--carts", str(n), "--url", url,
               "--dir", str(root / "carts"), "--report", str(report), "--t0", repr(t0),
               "--public-key", public_key(), "--keepalive", str(keepalive),
               "--offline-count", str(offline_per_worker)]
        for key, value in plan.items():
            cmd += [f"--{key.replace('_', '-')}", repr(value)]
        workers.append((subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL), report))
    return workers


def collect(workers: list[tuple[subprocess.Popen[bytes], Path]], timeout: float) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for process, report in workers:
        process.wait(timeout)
        out.update(json.loads(report.read_text()))
    return out


def start_ingest(url: str, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dashcart", "fleet-ingest", "--broker", url, "--db", str(db)],
                            cwd=REPO, stdout=subprocess.DEVNULL)


def check_accounting(history: dict[str, list[dict[str, Any]]], db: Path) -> dict[str, Any]:
    stored = accounting(db)
    sent = lost = extra = left = 0
    bad_carts = []
    dups = 0
    for cart, boots in history.items():
        entry = stored.get(f"{STORE}/{cart}", {"boots": {}, "duplicates": 0})
        dups += entry["duplicates"]
        for boot in boots:
            if not boot["sent"]:
                continue
            have = entry["boots"].get(boot["boot_id"], {"rows": 0, "lost": 0, "max_seq": 0})
            sent += boot["sent"]
            missing = boot["sent"] - have["rows"]   # evicted seqs (lost) are missing too
            lost += max(0, missing)
            extra += max(0, (have["max_seq"] or 0) - boot["sent"])
            left += boot.get("left", 0) or 0
            if missing:
                bad_carts.append(cart)
    return {"sent": sent, "lost": lost, "unexpected": extra, "duplicates": dups, "left_in_outboxes": left,
            "carts_short": len(set(bad_carts))}


def scenario_kill(args: argparse.Namespace, root: Path) -> None:
    broker = Mosquitto(root / "broker")
    broker.start()
    ingest = start_ingest(broker.url, root / "ingest.db")
    t0 = time.time() + 3
    plan = {"send_from": 5.0, "send_until": 5.0 + args.seconds, "end": 5.0 + args.seconds + 60}
    workers = start_workers(args.carts, broker.url, root, t0, plan)
    kill_at = t0 + 5 + args.seconds / 2
    time.sleep(max(0, kill_at - time.time()))
    broker.kill()
    time.sleep(1.0)
    restarted = time.time()   # before: a cart may connect while start() still waits for the port
    broker.start()
    history = collect(workers, plan["end"] + 60)
    time.sleep(1.0)
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(20)
    broker.stop()
    result = check_accounting(history, root / "ingest.db")
    print(f"1. {args.carts} carts x 1 msg/s for {args.seconds} s, broker SIGKILLed and restarted after 1 s:")
    print(f"   sent {result['sent']}, lost {result['lost']} (target 0), stored twice-over {result['unexpected']}, "
          f"duplicates removed at ingest {result['duplicates']} "
          f"({100.0 * result['duplicates'] / max(1, result['sent']):.1f} %), "
          f"left unacked in outboxes {result['left_in_outboxes']}, carts short {result['carts_short']}")
    back, per_second = reconnects_after(history, restarted)
    print(f"   back after the restart: {len(back)}/{args.carts} carts, slowest {max(back):.1f} s; reconnects per "
          f"second, peak {max(per_second)} (target <= 50): {per_second}")


def reconnects_after(history: dict[str, list[dict[str, Any]]], restarted: float,
                     until: float = float("inf")) -> tuple[list[float], list[int]]:
    """Each cart's first connection after the broker came back (seconds after), and how many
    connections came in each second after it (up to ``until``, wall time)."""
    back = []
    counts: dict[int, int] = {}
    for boots in history.values():
        after = sorted(t for b in boots for t in b["connects"] if restarted <= t < until)
        if after:
            back.append(after[0] - restarted)
        for t in after:
            counts[int(t - restarted)] = counts.get(int(t - restarted), 0) + 1
    return back, [counts.get(s, 0) for s in range(max(counts, default=0) + 1)]


def scenario_outage_and_config(args: argparse.Namespace, root: Path) -> None:
    broker = Mosquitto(root / "broker")
    broker.start()
    watcher = Watcher(broker.url)
    ingest = start_ingest(broker.url, root / "ingest.db")
    outage = args.outage
    t0 = time.time() + 3
    down_at, up_at = 20.0, 20.0 + outage
    cfg1_at = up_at + 20
    offline_at, cfg2_at, online_at = cfg1_at + 8, cfg1_at + 12, cfg1_at + 18
    bad_at = online_at + 10
    send_until = bad_at + 14
    plan = {"send_from": 5.0, "send_until": send_until, "end": send_until + 60,
            "offline_at": offline_at, "online_at": online_at}
    offline_per_worker = max(1, CARTS_PER_WORKER // 10)
    workers = start_workers(args.carts, broker.url, root, t0, plan, offline_per_worker=offline_per_worker)

    def at(t: float) -> None:
        time.sleep(max(0.0, t0 + t - time.time()))

    at(down_at)
    broker.kill()
    at(up_at)
    restarted = time.time()
    broker.start()
    at(cfg1_at)
    published1 = time.time()
    watcher.publish(f"dashcart/v1/{STORE}/_all/config/desired", sign(1, {"ui": {"volume": 0.4}}))
    at(cfg2_at)
    published2 = time.time()
    watcher.publish(f"dashcart/v1/{STORE}/_all/config/desired", sign(2, {"ui": {"volume": 0.3}}))
    at(bad_at)
    from nacl.signing import SigningKey
    forged = SigningKey(bytes(32))
    bad_docs = [
        ("forged", {"version": 3, "doc": {"ui": {"volume": 0.1}},
                    "sig": forged.sign(signed_message({"ui": {"volume": 0.1}}, 3)).signature.hex()}),
        ("unsigned", {"version": 4, "doc": {"ui": {"volume": 0.1}}}),
        ("invalid", sign(5, {"ui": {"volume": 9.0}})),
        ("older", sign(1, {"ui": {"volume": 0.9}})),
        ("tampered", dict(sign(6, {"ui": {"volume": 0.2}}), doc={"ui": {"volume": 0.0}})),
    ]
    for _, doc in bad_docs:
        watcher.publish(f"dashcart/v1/{STORE}/_all/config/desired", doc)
        time.sleep(2.0)
    history = collect(workers, plan["end"] + 60)
    time.sleep(1.0)
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(20)
    watcher.close()
    broker.stop()

    result = check_accounting(history, root / "ingest.db")
    offline_carts = {c for c, boots in history.items() if len(boots) > 1}
    back, reconnects = reconnects_after(history, restarted, until=t0 + offline_at)
    print(f"2. {outage:.0f} s outage (broker SIGKILLed, restarted {outage:.0f} s later), {args.carts} carts:")
    print(f"   sent {result['sent']}, lost {result['lost']} (target 0), duplicates removed "
          f"{result['duplicates']}, left unacked {result['left_in_outboxes']}")
    print(f"   back after the broker returned: {len(back)}/{args.carts} carts, slowest {max(back):.1f} s "
          f"(target <= 10 s), median {statistics.median(back):.1f} s")
    print(f"   reconnects per second, peak {max(reconnects)} (target <= 50): {reconnects}")

    reported: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for t, cart, leaf, body in watcher.events:
        if leaf == "config/reported":
            reported.setdefault(cart, []).append((t, body))
    online_carts = [c for c in history if c not in offline_carts]
    lat1 = []
    for cart in history:
        ok = [t for t, b in reported.get(cart, []) if b.get("version") == 1 and b.get("status") == "ok" and t >= published1]
        if ok:
            lat1.append(ok[0] - published1)
    lat1.sort()
    p99 = lat1[max(0, int(round(0.99 * len(lat1))) - 1)] if lat1 else float("nan")
    print(f"   config v1 to the store: reported ok by {len(lat1)}/{args.carts} online carts, p50 "
          f"{statistics.median(lat1):.2f} s, p99 {p99:.2f} s (target <= 5 s)")
    conv = []
    for cart in offline_carts:
        connects = sorted(t for b in history[cart][1:] for t in b["connects"])
        ok = [t for t, b in reported.get(cart, []) if b.get("version") == 2 and b.get("status") == "ok"]
        if connects and ok:
            conv.append(ok[0] - connects[0])
    lat2 = [min([t for t, b in reported.get(c, []) if b.get("version") == 2 and b.get("status") == "ok"] or [1e9])
            - published2 for c in online_carts]
    print(f"   config v2 while {len(offline_carts)} carts were offline: online carts p99 "
          f"{sorted(lat2)[max(0, int(round(0.99 * len(lat2))) - 1)]:.2f} s; the offline ones converged "
          f"{len(conv)}/{len(offline_carts)}, slowest {max(conv) if conv else float('nan'):.2f} s after their "
          f"reconnect (target <= 5 s)")
    applied_bad = 0
    rejected: dict[str, int] = {}
    for cart in history:
        path = root / "carts" / cart / "fleet" / "config.json"
        version = json.loads(path.read_text())["version"] if path.exists() else 0
        if version != 2:
            applied_bad += 1
        for _, body in reported.get(cart, []):
            if body.get("status") == "rejected":
                reason = body.get("reason", "")
                rejected[reason.split(" ")[0] if reason else "?"] = rejected.get(reason.split(" ")[0], 0) + 1
    print(f"   forged, unsigned, invalid, older and tampered documents: carts not on version 2 afterwards "
          f"{applied_bad} (target 0); rejections reported by first word: {dict(sorted(rejected.items()))}")


def scenario_offline_detection(args: argparse.Namespace, root: Path) -> None:
    broker = Mosquitto(root / "broker")
    broker.start()
    watcher = Watcher(broker.url)
    keepalive = 5
    results = {}
    for how in ("crash", "silent"):
        cart = f"solo-{how}"
        script = (
            "import time, pathlib\n"
            "from dashcart.config import FleetSection\n"
            "from dashcart.runtime.fleet import FleetLink\n"
            f"link = FleetLink(FleetSection(broker_url={broker.url!r}, store_id={STORE!r}, keepalive_s={keepalive}), "
            f"{cart!r}, pathlib.Path({str(root / cart)!r}), capture_logs=False)\n"
            "link.start(); link.connected_event.wait(10); print('up', flush=True); time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE)
        assert process.stdout is not None and process.stdout.readline().strip() == b"up"
        time.sleep(1.0)
        t = time.time()
        process.send_signal(signal.SIGKILL if how == "crash" else signal.SIGSTOP)
        deadline = t + 30
        seen = None
        while time.time() < deadline and seen is None:
            with watcher.lock:
                seen = next((e[0] for e in watcher.events if e[1] == cart and e[2] == "status"
                             and e[3].get("state") == "offline" and e[0] >= t), None)
            time.sleep(0.01)
        results[how] = (seen - t) if seen else float("nan")
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(5)
    watcher.close()
    broker.stop()
    print("3. offline detection:")
    print(f"   crashed cart (SIGKILL): offline after {results['crash']:.2f} s (target <= 1 s)")
    print(f"   silent cart (SIGSTOP, keepalive {keepalive} s): offline after {results['silent']:.2f} s "
          f"(target <= 1.5 x {keepalive} + 1 = {1.5 * keepalive + 1:.1f} s)")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def overhead_child(url: str, state: str, seconds: float) -> None:
    import resource

    from dashcart.runtime.cart_runtime import CartRuntime  # noqa: F401  (the cart's imports, before measuring)
    before = _rss_mb()
    link = FleetLink(FleetSection(broker_url=url, store_id=STORE, health_period_s=30.0), "solo-overhead",
                     Path(state), health=lambda: {"model": "bench"})
    link.start()
    link.connected_event.wait(10)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        n += 1
        link.telemetry("tick", {"n": n, "pad": "x" * 64})
        time.sleep(1.0)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    wall = time.monotonic() - t0
    print(json.dumps({"cpu_percent": 100.0 * cpu / wall, "rss_mb": _rss_mb() - before, "acked": link.counters.acked,
                      "sent": n}))
    link.stop()


def scenario_overhead(args: argparse.Namespace, root: Path) -> None:
    broker = Mosquitto(root / "broker")
    broker.start()
    ingest = start_ingest(broker.url, root / "ingest.db")
    out = subprocess.run([sys.executable, "-m", "bench.bench_fleet", "--overhead-child", broker.url, str(root / "solo"),
                          str(args.overhead_seconds)], cwd=REPO, capture_output=True, text=True, timeout=600)
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(20)
    broker.stop()
    data = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"4. one cart's link at 1 msg/s for {args.overhead_seconds:.0f} s (health every 30 s): "
          f"{data['cpu_percent']:.2f} % of a core (target <= 2 %), +{data['rss_mb']:.1f} MB RSS after the cart's "
          f"own imports (target <= 30 MB); acked {data['acked']}/{data['sent']}")


def runtime_latency(state_dir: Path, broker_url: str, rounds: int) -> dict[str, Any]:
    """Event -> published snapshot latency on the live runtime, and lane -> receipt."""
    from dashcart.config import Config
    from dashcart.core.catalogue import Catalogue
    from dashcart.events import BarcodeSeen, LaneDetected, ShopperAction, WeightSettled
    from dashcart.runtime.cart_runtime import CartRuntime, find_data_dir, wait_for

    data = find_data_dir()
    assert data is not None, "the demo catalogue (../shared/data or the bundled demo store) is needed"
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    product = next(p for p in catalogue if p.sold_by == "unit" and len(p.code) == 13)
    config = Config()
    config = dataclasses.replace(
        config, cart=dataclasses.replace(config.cart, state_dir=str(state_dir)),
        scale=dataclasses.replace(config.scale, backend="serial", port=str(state_dir / "no-scale")),
        checkout=dataclasses.replace(config.checkout, cancel_window_s=0.0),
        # No wait for vision after the load settles: the latency measured is the cart's own work.
        fusion=dataclasses.replace(config.fusion, evidence_after_s=0.0),
        fleet=FleetSection(broker_url=broker_url, store_id=STORE) if broker_url else FleetSection())
    runtime = CartRuntime(config, catalogue=catalogue)
    runtime.start()
    event_ms: list[float] = []
    checkout_ms: list[float] = []
    try:
        for r in range(rounds):
            t = runtime.clock()
            runtime.post(ShopperAction(t, "signin", f"dcs1:bench-shopper-{r:08d}"))
            wait_for(runtime, lambda s: s.state.value == "shopping", 5, poll_s=0.001)
            for i in range(5):
                t = runtime.clock()
                runtime.post(BarcodeSeen(t, "top", product.code, "EAN-13"))
                count = sum(line.qty for line in runtime.snapshot().lines)
                t0 = time.perf_counter()
                runtime.post(WeightSettled(t + 0.05, product.unit_weight_g, product.unit_weight_g * (i + 1),
                                           started_t=t))
                wait_for(runtime, lambda s, c=count: sum(line.qty for line in s.lines) > c, 5, poll_s=0.0005)
                event_ms.append(1000 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            runtime.post(LaneDetected(runtime.clock(), "lane-1"))
            done = wait_for(runtime, lambda s: s.state.value in ("done", "idle") or (
                s.checkout is not None and s.checkout.stage in ("paid", "receipt_sent")), 10, poll_s=0.0005)
            if done is not None:
                checkout_ms.append(1000 * (time.perf_counter() - t0))
            runtime.action("confirm")   # paid: the shopper takes the receipt and goes
            assert wait_for(runtime, lambda s: s.state.value == "idle", 5, poll_s=0.001), "the trip did not end"
    finally:
        runtime.stop()
    return {"event_ms": statistics.median(event_ms), "event_p95": sorted(event_ms)[int(0.95 * len(event_ms))],
            "checkout_ms": statistics.median(checkout_ms) if checkout_ms else float("nan"),
            "checkouts": len(checkout_ms), "all_event_ms": event_ms, "all_checkout_ms": checkout_ms}


def scenario_absent_broker(args: argparse.Namespace, root: Path) -> None:
    from tests.runtime.mosquitto_broker import free_port
    absent = f"mqtt://127.0.0.1:{free_port()}"
    results: dict[str, list[dict[str, Any]]] = {"none": [], "absent": []}
    for i in range(args.latency_repeats):   # interleaved: the machine's load drifts
        for name, url in (("none", ""), ("absent", absent)):
            results[name].append(runtime_latency(root / f"{name}-{i}", url, args.latency_rounds))
    print("5. the cart with no [fleet] against a [fleet] broker that is absent "
          f"({args.latency_repeats} interleaved runs x {args.latency_rounds} trips each):")
    for key, label in (("all_event_ms", "event -> snapshot"), ("all_checkout_ms", "lane -> paid")):
        a = [v for r in results["none"] for v in r[key]]
        b = [v for r in results["absent"] for v in r[key]]
        ma, mb = statistics.median(a), statistics.median(b)
        # Run against run: how far the same measurement moves with the load of a shared machine.
        paired = sorted(100 * (statistics.median(y[key]) - statistics.median(x[key])) / statistics.median(x[key])
                        for x, y in zip(results["none"], results["absent"], strict=True))
        print(f"   {label}, median of all: {ma:.2f} ms without, {mb:.2f} ms with the broker absent "
              f"({100 * (mb - ma) / ma:+.1f} %; target within 5 %); p95 {sorted(a)[int(0.95 * len(a))]:.2f} against "
              f"{sorted(b)[int(0.95 * len(b))]:.2f} ms; run against run {paired[0]:+.1f} to {paired[-1]:+.1f} %, "
              f"median {statistics.median(paired):+.1f} %")


def scenario_real_carts(args: argparse.Namespace, root: Path) -> None:
    """Real carts (``dashcart run --headless`` on the simulated scale, default link settings)
    take a store-wide document: accepted and reported at once, then each starts again in the
    same process and runs it (its second READY=1 to a stand-in for systemd's notify socket)."""
    from tests.notify_socket import NotifyReceiver
    broker = Mosquitto(root / "broker")
    broker.start()
    watcher = Watcher(broker.url, leaves=("status", "config/reported", "health"))
    carts: dict[str, tuple[subprocess.Popen[bytes], NotifyReceiver]] = {}
    try:
        for i in range(args.real_carts):
            cart = f"real-{i:02d}"
            toml = root / f"{cart}.toml"
            toml.write_text(f'[cart]\nid = "{cart}"\nstate_dir = "{root / cart}"\n[fleet]\nbroker_url = "{broker.url}"\n'
                            f'store_id = "{STORE}"\nconfig_public_key = "{public_key()}"\n')
            notify = NotifyReceiver()
            process = subprocess.Popen([sys.executable, "-m", "dashcart", "run", "--headless", "--config", str(toml)],
                                       cwd=REPO, env=dict(os.environ, NOTIFY_SOCKET=notify.env_value),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            carts[cart] = (process, notify)

        def online() -> set[str]:
            with watcher.lock:
                return {e[1] for e in watcher.events if e[2] == "status" and e[3].get("state") == "online"}
        deadline = time.time() + 60
        while time.time() < deadline and len(online()) < len(carts):
            time.sleep(0.1)
        ready_again: dict[str, float] = {}

        def watch(cart: str, notify: NotifyReceiver) -> None:
            said: list[str] = []
            while "RELOADING=1" not in said or "READY=1" not in said[said.index("RELOADING=1"):]:
                said.append(notify.receive(timeout=120)[0].splitlines()[0])
            ready_again[cart] = time.time()
        threads = [threading.Thread(target=watch, args=(cart, notify), daemon=True) for cart, (_, notify) in carts.items()]
        for thread in threads:
            thread.start()
        published = time.time()
        watcher.publish(f"dashcart/v1/{STORE}/_all/config/desired", sign(1, {"ui": {"volume": 0.4}}))
        for thread in threads:
            thread.join(60)
        ready_again = {cart: t - published for cart, t in ready_again.items()}
        deadline = time.time() + 30
        running: dict[str, float] = {}
        while time.time() < deadline and len(running) < len(carts):
            with watcher.lock:
                for t, cart, leaf, body in watcher.events:
                    if leaf == "health" and body.get("config_version") == 1 and t >= published and cart not in running:
                        running[cart] = t - published
            time.sleep(0.1)
        reported: dict[str, float] = {}
        with watcher.lock:
            for t, cart, leaf, body in watcher.events:   # the first: the new start says it again
                if leaf == "config/reported" and body == {"version": 1, "status": "ok"} and t >= published:
                    reported.setdefault(cart, t - published)
        alive = sum(1 for process, _ in carts.values() if process.poll() is None)
    finally:
        for process, _ in carts.values():
            process.terminate()
        for process, notify in carts.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
            notify.close()
        watcher.close()
        broker.stop()
    print(f"6. {len(carts)} real carts (dashcart run --headless, simulated scale, default link settings), a store-wide "
          "document:")
    print(f"   accepted and reported ok by {len(reported)}/{len(carts)}, slowest {max(reported.values()):.2f} s; started "
          f"again in the same process (RELOADING=1, READY=1) and running it after {min(ready_again.values()):.1f}-"
          f"{max(ready_again.values()):.1f} s; its health seen by the fleet after {max(running.values()):.1f} s at most "
          f"(the new start's randomised connection); {alive}/{len(carts)} processes still the same pid")


def _children() -> set[int]:
    """This process's child processes (from /proc)."""
    me = str(os.getpid())
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            out.add(int(stat.parent.name))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="sending time of scenario 1")
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--overhead-seconds", type=float, default=120.0)
    parser.add_argument("--latency-rounds", type=int, default=10)
    parser.add_argument("--latency-repeats", type=int, default=3)
    parser.add_argument("--real-carts", type=int, default=5, help="real cart processes in scenario 6")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers (default: all)")
    parser.add_argument("--quick", action="store_true", help="20 carts, short phases (a smoke run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--overhead-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--report", default="", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--public-key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--keepalive", type=int, default=30, help=argparse.SUPPRESS)
    parser.add_argument("--offline-count", type=int, default=0, help=argparse.SUPPRESS)
    for key in ("send-from", "send-until", "end", "offline-at", "online-at"):
        parser.add_argument(f"--{key}", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.overhead_child:
        url, state, seconds = args.overhead_child
        overhead_child(url, state, float(seconds))
        return
    if args.quick:
        args.carts, args.seconds, args.outage = 20, 15.0, 15.0
        args.overhead_seconds, args.latency_rounds, args.latency_repeats, args.real_carts = 20.0, 3, 1, 2
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    scenarios = [("1", scenario_kill), ("2", scenario_outage_and_config), ("3", scenario_offline_detection),
                 ("4", scenario_overhead), ("5", scenario_absent_broker), ("6", scenario_real_carts)]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        for number, scenario in scenarios:
            if only and number not in only:
                continue
            root = Path(tmp) / number
            root.mkdir()
            before = _children()
            try:
                scenario(args, root)
            finally:
                # Whatever a failed scenario left running (broker, ingest, workers) goes with it.
                for pid in _children() - before:
                    try:
                        os.kill(pid, signal.SIGCONT)
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            sys.stdout.flush()


if __name__ == "__main__":
    main()
