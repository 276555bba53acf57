import random

import pytest

from dashcart.drivers.scale.decoder import LineDecoder
from dashcart.readings import Gap, Sample
from dashcart.drivers.scale.protocol import (
    BridgeError, Corrupt, Info, Reading, SicsStatus, SicsWeight, crc8, encode_hx711,
    encode_sics_weight, parse_hx711, parse_sics, seq_gap,
)


def test_crc8_smbus_check_values():
    assert crc8(b"R 0 -84211") == 0xFA
    assert crc8(b"R 1 84211") == 0x67
    assert crc8(b"123456789") == 0xF4  # the catalogue check value of CRC-8/SMBUS


def test_encode_gives_the_exact_line():
    assert encode_hx711(0, -84211) == b"R 0 -84211 FA\n"
    assert encode_hx711(1, 84211) == b"R 1 84211 67\n"
    with pytest.raises(ValueError):
        encode_hx711(65536, 0)
    with pytest.raises(ValueError):
        encode_hx711(0, 8388608)


@pytest.mark.parametrize("seq,raw", [(0, 0), (65535, -8388608), (17, 8388607), (300, -1), (9, 123456)])
def test_round_trip(seq, raw):
    assert parse_hx711(encode_hx711(seq, raw)) == Reading(seq, raw)
    assert parse_hx711(encode_hx711(seq, raw).decode().rstrip("\n")) == Reading(seq, raw)


def test_saturation_codes_are_marked():
    assert parse_hx711(encode_hx711(1, 8388607)).saturated
    assert parse_hx711(encode_hx711(1, -8388608)).saturated
    assert not parse_hx711(encode_hx711(1, 8388606)).saturated


def test_info_and_error_lines():
    banner = parse_hx711(b"# hx711-bridge/1 rate=80\n")
    assert isinstance(banner, Info) and banner.is_banner
    assert parse_hx711("E 3 hx711 not ready") == BridgeError("3", "hx711 not ready")


@pytest.mark.parametrize("line,reason", [
    (b"R 1 84211 68\n", "bad CRC"),
    (b"R 1 84211 67 \n", "not a reading"),
    (b"R 1 84211 6\n", "not a reading"),
    (b"R 01 84211 67\n", "not a reading"),
    (b"R 70000 5 00\n", "sequence number out of range"),
    (b"R 1 9999999 00\n", "count outside 24 bits"),
    (b"r 1 84211 67\n", "not a reading"),
    (b"\xff\xfeR 1 84211 67\n", "non-ASCII bytes"),
    (b"R 1 84211 67" * 10, "over-long line"),
    (b"S S      12.3 g\r\n", "not a reading"),
    (b"", "not a reading"),
])
def test_corrupt_lines_say_why(line, reason):
    result = parse_hx711(line)
    assert isinstance(result, Corrupt)
    assert result.reason == reason


def test_nothing_a_line_can_contain_raises():
    rng = random.Random(7)
    good = encode_hx711(12, -4567)
    for _ in range(3000):
        n = rng.randrange(0, 80)
        junk = bytes(rng.randrange(256) for _ in range(n))
        mutated = bytearray(good)
        mutated[rng.randrange(len(good))] = rng.randrange(256)
        for line in (junk, bytes(mutated)):
            assert isinstance(parse_hx711(line), (Reading, Info, BridgeError, Corrupt))
            assert isinstance(parse_sics(line), (SicsWeight, SicsStatus, Corrupt))
            if isinstance(parse_hx711(line), Reading):
                assert crc8(line.split(b" ")[0] + b" " + line.split(b" ")[1] + b" " + line.split(b" ")[2]) \
                    == int(line.split()[3], 16)


def test_seq_gap_wraps():
    assert seq_gap(None, 5) == 0
    assert seq_gap(5, 6) == 0
    assert seq_gap(5, 9) == 3
    assert seq_gap(65535, 0) == 0
    assert seq_gap(65534, 2) == 3


@pytest.mark.parametrize("line,expected", [
    ("S S      12.3 g", SicsWeight(12.3, True)),
    ("S D     -0.52 kg\r\n", SicsWeight(-520.0, False)),
    ("S S 100 g", SicsWeight(100.0, True)),
    ("S I", SicsStatus("busy", "S I")),
    ("S +", SicsStatus("overload", "S +")),
    ("S -", SicsStatus("underload", "S -")),
    ("ES", SicsStatus("syntax", "ES")),
    ("ET", SicsStatus("transmission", "ET")),
    ("EL", SicsStatus("logical", "EL")),
    ("Z A", SicsStatus("zeroed", "Z A")),
])
def test_sics_responses(line, expected):
    assert parse_sics(line) == expected


@pytest.mark.parametrize("line", ["S S 12.3 parsecs", "S X 1 g", "R 1 84211 67", "S S abc g", ""])
def test_sics_corrupt(line):
    assert isinstance(parse_sics(line), Corrupt)


def test_sics_encode_round_trip():
    assert parse_sics(encode_sics_weight(-12.25, False)) == SicsWeight(-12.2, False) or \
        parse_sics(encode_sics_weight(-12.25, False)) == SicsWeight(-12.3, False)
    assert parse_sics(encode_sics_weight(500.0, True)) == SicsWeight(500.0, True)


def test_decoder_counts_faults_and_gaps():
    d = LineDecoder("hx711-bridge")
    out = []
    lines = [b"# hx711-bridge/1 rate=80\n", encode_hx711(0, 10), encode_hx711(1, 11), b"R 2 12 00\n",
             encode_hx711(5, 8388607), b"E 3 not ready\n", b"garbage\n",
             b"# hx711-bridge/1 rate=80\n", encode_hx711(0, 13)]
    for i, line in enumerate(lines):
        out += d.decode(i * 0.0125, line)
    c = d.counters
    assert (c.readings, c.corrupt, c.seq_gaps, c.lost_readings, c.saturated, c.bridge_errors, c.reboots) == \
        (4, 2, 1, 3, 1, 1, 1)
    kinds = [type(x).__name__ for x in out]
    assert kinds == ["Sample", "Sample", "Gap", "Sample", "Gap", "Sample"]
    assert out[2] == Gap(4 * 0.0125, 3) and out[3].saturated
    assert out[4].lost == -1  # a reboot loses an unknown number of readings


def test_decoder_sics():
    d = LineDecoder("mt-sics")
    assert d.decode(0.0, b"S S     12.0 g\r\n") == [Sample(0.0, grams=12.0, stable=True)]
    assert d.decode(0.1, b"S +\r\n") == [Sample(0.1, saturated=True)]
    assert d.decode(0.2, b"R 1 84211 67\n") == []
    assert d.counters.corrupt == 1 and d.counters.saturated == 1


def test_a_burst_of_late_lines_keeps_the_bridge_pace():
    d = LineDecoder()
    times = [s.t for seq in range(3) for s in d.decode(10.0 + seq / 80, encode_hx711(seq, 0))]
    # the reader stalls 0.2 s; 16 lines then arrive at once
    times += [s.t for seq in range(3, 19) for s in d.decode(10.25, encode_hx711(seq, 0))]
    assert times == pytest.approx([10.0 + k / 80 for k in range(19)])
    # a lost reading keeps its slot; a line far behind or ahead of its pace re-anchors
    assert d.decode(10.5, encode_hx711(20, 0))[-1].t == pytest.approx(10.0 + 20 / 80)
    assert d.decode(12.0, encode_hx711(21, 0))[-1].t == 12.0
    assert d.decode(12.001, encode_hx711(22, 0))[-1].t == 12.001


def test_banner_sets_the_rate():
    d = LineDecoder()
    d.decode(0.0, "# hx711-bridge/1 rate=10")
    assert d.rate_hz == 10.0
    d.decode(1.0, encode_hx711(0, 0))
    assert d.decode(1.3, encode_hx711(1, 0))[-1].t == pytest.approx(1.1)
