"""A beacons.csv line with a signal strength that is not a number of dBm is reported and skipped."""

import json

from dashcart.trips.format import read_trip


def test_nan_and_out_of_range_signal_strengths_are_skipped_with_their_line(tmp_path):
    trip = tmp_path / "trip"
    trip.mkdir()
    (trip / "trip.json").write_text(json.dumps({"format": "dashcart-trip/1", "cameras": [],
                                                "scale": {"protocol": "hx711-bridge", "offset": 0,
                                                          "counts_per_gram": 420.0}}))
    (trip / "scale.log").write_text("")
    beacon = "ibeacon,f7826da6-4fa2-4e98-8024-bc5b71e0893e:9:1"
    (trip / "beacons.csv").write_text("t,kind,id,rssi\n"
                                      f"1.0,{beacon},-61\n2.0,{beacon},nan\n3.0,{beacon},-inf\n"
                                      f"4.0,{beacon},999\n5.0,{beacon},NaN\n6.0,{beacon},-70.5\n")
    read = read_trip(trip)
    assert [b.rssi for b in read.beacons] == [-61.0, -70.5]
    skipped = sorted(p.line for p in read.problems if p.file.endswith("beacons.csv"))
    assert skipped == [3, 4, 5, 6]
    assert all("rssi" in p.message and "\n" not in p.message for p in read.problems)
