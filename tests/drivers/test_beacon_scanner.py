import queue

from bleak.backends.scanner import AdvertisementData

from dashcart.config import LocationSection
from dashcart.drivers.beacon.scanner import BleakBeaconScanner, NoBeaconScanner
from dashcart.events import BeaconSighting, DeviceStatus
from dashcart.runtime.devices import open_beacon_scanner
from dashcart.sim.scripted_beacons import ScriptedBeaconScanner

IBEACON = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000640000c5")


def advertisement(manufacturer=None, service=None, rssi=-61):
    return AdvertisementData(local_name=None, manufacturer_data=manufacturer or {}, service_data=service or {},
                             service_uuids=[], tx_power=None, rssi=rssi, platform_data=())


def test_bleak_advertisements_become_sightings_stamped_with_both_clocks():
    got = []
    scanner = BleakBeaconScanner(clock=lambda: 12.5, wall_clock=lambda: 1_767_225_600.0)
    scanner._on_advertisement(got.append, advertisement({0x004C: IBEACON}))
    scanner._on_advertisement(got.append, advertisement({0x004C: bytes.fromhex("100544")}))  # a phone, not a beacon
    eddystone_url = {"0000feaa-0000-1000-8000-00805f9b34fb": bytes.fromhex("10ee037275752e76692f")}
    scanner._on_advertisement(got.append, advertisement(service=eddystone_url))             # recognised, not locating
    assert got == [BeaconSighting(12.5, "ibeacon", "e2c56db5-dffb-48d2-b060-d0f5a71096e0:100:0", -61.0,
                                  wall_t=1_767_225_600.0)]


def test_bleak_scanner_without_bluez_reports_bluetooth_down_and_stops_cleanly():
    events: queue.Queue = queue.Queue()
    scanner = BleakBeaconScanner(adapter="hci9", retry_s=0.2)
    scanner.start(events.put)
    try:
        event = events.get(timeout=20)
    finally:
        scanner.stop()
    assert isinstance(event, DeviceStatus) and event.device == "bluetooth" and event.state == "down"
    assert "\n" not in event.message


def test_scripted_scanner_plays_the_trip_rows_in_order(tmp_path):
    path = tmp_path / "beacons.csv"
    path.write_text("t,kind,id,rssi\n0.02,ibeacon,e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2,-70\n"
                    "0.0,eddystone-uid,00112233445566778899:aabbccddeeff,-80\n")
    scanner = open_beacon_scanner(LocationSection(backend="sim", script=str(path)))
    assert isinstance(scanner, ScriptedBeaconScanner)
    events: queue.Queue = queue.Queue()
    scanner.start(events.put)
    try:
        first, second = events.get(timeout=5), events.get(timeout=5)
    finally:
        scanner.stop()
    assert (first.kind, second.kind) == ("eddystone-uid", "ibeacon")
    assert first.t <= second.t and first.wall_t is not None


def test_no_backend_means_no_sightings():
    assert isinstance(open_beacon_scanner(LocationSection(backend="none")), NoBeaconScanner)


def test_lane_sightings_carry_the_proven_clock_error_and_an_unsynchronised_clock_is_reported():
    import math
    eid = {"0000feaa-0000-1000-8000-00805f9b34fb": bytes.fromhex("30f0") + bytes(range(8))}
    errors = iter([0.02, math.inf, math.inf, 0.3])
    got = []
    scanner = BleakBeaconScanner(clock=lambda: 3.0, wall_clock=lambda: 1_767_225_600.0,
                                 clock_error=lambda: next(errors))
    scanner._on_advertisement(got.append, advertisement({0x004C: IBEACON}))   # not a lane beacon: no proof asked
    for _ in range(4):
        scanner._on_advertisement(got.append, advertisement(service=eid))
    sightings = [e for e in got if isinstance(e, BeaconSighting)]
    assert [s.wall_error_s for s in sightings] == [None, 0.02, math.inf, math.inf, 0.3]
    statuses = [(e.device, e.state) for e in got if isinstance(e, DeviceStatus)]
    assert statuses == [("clock", "down"), ("clock", "ok")]       # once down, once back
    assert "not synchronised" in next(e.message for e in got if isinstance(e, DeviceStatus))


def test_the_kernel_is_asked_how_far_off_the_clock_is():
    import math
    import sys

    from dashcart.drivers.clock import clock_error_s, describe
    error = clock_error_s()
    if sys.platform.startswith("linux"):
        assert error is not None and (math.isinf(error) or 0.0 <= error < 16.0)
    assert describe(math.inf) == "the clock is not synchronised (NTP)"
    assert describe(0.0123) == "the clock is synchronised (NTP), at most 12 ms off"
