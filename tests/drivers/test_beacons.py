import json

import pytest

from dashcart.drivers.beacon.advertisement import (
    MalformedAdvertisement,
    beacon_from_advertisement,
    beacon_from_fields,
    parse_hci_event,
    parse_hci_hex,
    service_data_by_uuid16,
)
from dashcart.errors import Misconfigured
from dashcart.readings import normalize_beacon_key
from dashcart.sim.scripted_beacons import read_beacons_csv


def _records(shared_data):
    path = shared_data / "ble" / "advertisements.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_captured_reports_give_mac_and_rssi(shared_data):
    records = _records(shared_data)
    assert len(records) == 28
    for record in records:
        (ad,) = parse_hci_hex(record["hci_event_hex"])
        expected = record["expected"]
        mac = expected.get("sensor_msg.mac") or expected.get("tracker_msg.mac")
        rssi = expected.get("sensor_msg.rssi", expected.get("tracker_msg.rssi"))
        if mac:
            assert ad.mac == mac, record["test"]
        if rssi is not None:
            assert ad.rssi == rssi, record["test"]


def test_only_true_ibeacons_parse_as_ibeacons(shared_data):
    for record in _records(shared_data):
        expected = record["expected"]
        (ad,) = parse_hci_hex(record["hci_event_hex"])
        beacon = beacon_from_advertisement(ad)
        firmware = expected.get("sensor_msg.firmware", "iBeacon" if "tracker_msg.uuid" in expected else None)
        if firmware in ("iBeacon", "Tilt"):
            uuid_hex = expected.get("sensor_msg.uuid") or expected["tracker_msg.uuid"]
            assert beacon is not None and beacon.kind == "ibeacon", record["test"]
            uuid_part, major, minor = beacon.id.split(":")
            assert uuid_part.replace("-", "") == uuid_hex
            if "sensor_msg.major" in expected:
                assert (int(major), int(minor)) == (expected["sensor_msg.major"], expected["sensor_msg.minor"])
                assert beacon.tx_power == expected["sensor_msg.measured power"]
        else:
            # AltBeacon, phones' other Apple frames, Mi Scale, Ruuvi, KKM, Jaalee and HolyIOT
            # look-alikes: nothing a cart may locate itself (or check out) by.
            assert beacon is None or not beacon.locates, (record["test"], beacon)


def test_altbeacon_and_mi_scale_are_not_beacons(shared_data):
    by_name = {r["test"]: r for r in _records(shared_data)}
    for name in ("test_altbeacon_sensor", "test_miscale_v1", "test_miscale_v2", "test_ibeacon_iphone_ble_packet_var_1"):
        (ad,) = parse_hci_hex(by_name[name]["hci_event_hex"])
        assert beacon_from_advertisement(ad) is None, name


def test_ruuvi_eddystone_url_is_recognised_but_does_not_locate(shared_data):
    by_name = {r["test"]: r for r in _records(shared_data)}
    (ad,) = parse_hci_hex(by_name["test_ruuvitag_v2"]["hci_event_hex"])
    beacon = beacon_from_advertisement(ad)
    assert beacon.kind == "eddystone-url" and beacon.id.startswith("https://ruu.vi/#")
    assert not beacon.locates


def test_kkm_vendor_frame_on_eddystone_uuid_is_not_eddystone(shared_data):
    by_name = {r["test"]: r for r in _records(shared_data)}
    (ad,) = parse_hci_hex(by_name["test_kkm_k6"]["hci_event_hex"])
    assert 0xFEAA in ad.service_data
    assert beacon_from_advertisement(ad) is None


def _legacy_report(ad_data: bytes, rssi: int = -60) -> bytes:
    report = bytes([0x00, 0x01]) + bytes.fromhex("112233445566") + bytes([len(ad_data)]) + ad_data + bytes([rssi & 0xFF])
    params = bytes([0x02, 0x01]) + report
    return bytes([0x04, 0x3E, len(params)]) + params


def _eddystone_ad(frame: bytes) -> bytes:
    service = b"\xaa\xfe" + frame
    return b"\x02\x01\x06" + b"\x03\x03\xaa\xfe" + bytes([len(service) + 1, 0x16]) + service


def test_eddystone_uid_eid_and_tlm_frames():
    uid = bytes([0x00, 0xEE]) + bytes.fromhex("00112233445566778899") + bytes.fromhex("aabbccddeeff") + b"\x00\x00"
    (ad,) = parse_hci_event(_legacy_report(_eddystone_ad(uid), rssi=-70))
    beacon = beacon_from_advertisement(ad)
    assert (beacon.kind, beacon.id, beacon.tx_power, ad.rssi) == (
        "eddystone-uid", "00112233445566778899:aabbccddeeff", -18, -70)
    eid = bytes([0x30, 0xF0]) + bytes.fromhex("0102030405060708")
    (ad,) = parse_hci_event(_legacy_report(_eddystone_ad(eid)))
    assert beacon_from_advertisement(ad).key == "eddystone-eid:0102030405060708"
    tlm = bytes([0x20, 0x00]) + bytes(12)
    (ad,) = parse_hci_event(_legacy_report(_eddystone_ad(tlm)))
    assert beacon_from_advertisement(ad).kind == "eddystone-tlm"
    # An EID frame one byte short is not an EID.
    (ad,) = parse_hci_event(_legacy_report(_eddystone_ad(eid[:-1])))
    assert beacon_from_advertisement(ad) is None


def test_bleak_fields_parse_like_hci():
    service_data = {"0000feaa-0000-1000-8000-00805f9b34fb": bytes([0x30, 0xF0]) + bytes(range(8)),
                    "0000181d-0000-1000-8000-00805f9b34fb": b"\x02"}
    beacon = beacon_from_fields({}, service_data_by_uuid16(service_data))
    assert beacon.key == "eddystone-eid:0001020304050607"
    ibeacon = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000640000c5")
    assert beacon_from_fields({0x004C: ibeacon}, {}).id == "e2c56db5-dffb-48d2-b060-d0f5a71096e0:100:0"
    assert beacon_from_fields({0x004C: ibeacon[:-1]}, {}) is None


@pytest.mark.parametrize("hex_text, problem", [
    ("043E2A02010001433EA2C96B6A1E02011A1AFF4C0002", "parameter bytes"),
    ("043E0D0201000143" + "3EA2C96B6A" + "1E0201", "truncated"),
    ("zz", "not hexadecimal"),
])
def test_malformed_reports_raise_one_clear_error(hex_text, problem):
    with pytest.raises(MalformedAdvertisement, match=problem):
        parse_hci_hex(hex_text)


def test_ad_structure_overrunning_the_data_is_malformed():
    with pytest.raises(MalformedAdvertisement, match="claims"):
        parse_hci_event(_legacy_report(b"\x02\x01\x06\x1a\xff\x4c\x00"))


def test_other_hci_events_are_ignored():
    assert parse_hci_event(bytes.fromhex("0E0401030C00")) == []


def test_site_keys_are_normalised():
    assert normalize_beacon_key("iBeacon:E2C56DB5DFFB48D2B060D0F5A71096E0:100:0") == \
        "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:100:0"
    with pytest.raises(ValueError, match="major and minor"):
        normalize_beacon_key("ibeacon:e2c56db5dffb48d2b060d0f5a71096e0:70000:0")
    with pytest.raises(ValueError, match="kind must be"):
        normalize_beacon_key("altbeacon:x")


def test_beacons_csv_reads_and_names_bad_rows(tmp_path):
    path = tmp_path / "beacons.csv"
    path.write_text("t,kind,id,rssi\n0.5,ibeacon,e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2,-70\n")
    (s,) = read_beacons_csv(path, epoch=1000.0)
    assert (s.t, s.kind, s.rssi, s.wall_t) == (0.5, "ibeacon", -70.0, 1000.5)
    path.write_text("t,kind,id,rssi\n0.5,ibeacon,x,-70\n0.6,altbeacon,x,-70\n")
    with pytest.raises(Misconfigured, match=r"beacons.csv: line 3: kind 'altbeacon'"):
        read_beacons_csv(path)
    path.write_text("t,kind,id,rssi\n0.5,ibeacon,x,loud\n")
    with pytest.raises(Misconfigured, match="line 2: t and rssi must be numbers"):
        read_beacons_csv(path)


def test_trip_sightings_take_wall_time_from_the_optional_epoch(tmp_path):
    from dashcart.sim.scripted_beacons import trip_sightings
    assert trip_sightings(tmp_path, {}) == []
    (tmp_path / "beacons.csv").write_text("t,kind,id,rssi\n2.0,eddystone-eid,0011223344556677,-50\n")
    (s,) = trip_sightings(tmp_path, {"epoch": 1_767_225_600})
    assert s.wall_t == 1_767_225_602.0
    assert trip_sightings(tmp_path, {})[0].wall_t is None
    with pytest.raises(Misconfigured, match=r"trip.json: epoch must be Unix seconds"):
        trip_sightings(tmp_path, {"epoch": "yesterday"})
