import random

import pytest

from dashcart.drivers.scale.decoder import LineDecoder, Liveness
from dashcart.drivers.scale.protocol import (
    BridgeError,
    Corrupt,
    Info,
    Reading,
    SicsStatus,
    SicsWeight,
    crc8,
    encode_hx711,
    encode_sics_weight,
    parse_hx711,
    parse_sics,
    seq_gap,
)
from dashcart.readings import Gap, Sample, ScaleZeroed


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
    # an overload is a reading at the limit, counted in both as the bridge's are: half over the
    # limit is not "every reading at the limit" (doctor compares the two)
    assert d.counters.readings == 2


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


def _bridge_at(d, hz, seconds, start=0.0, every=1):
    """A bridge at ``hz`` for ``seconds``, its lines delivered ``every`` at a time (USB bunching)."""
    n = int(hz * seconds)
    for seq in range(n):
        arrived = start + (seq // every * every + every - 1) / hz
        d.decode(arrived, encode_hx711(seq % 65536, 0))


def test_a_bridge_slower_than_the_weighing_needs_is_degraded_and_says_why():
    # An HX711 with its RATE pin low reads at 10 Hz: a push of the cart would pass for a rest.
    ok = LineDecoder()
    _bridge_at(ok, 80, 8, every=16)   # bunched by USB, lines lost in between do not matter
    assert ok.pace_problem() is None and ok.liveness.check(8.0).state == "ok"
    slow = LineDecoder()
    _bridge_at(slow, 10, 3)
    assert slow.pace_problem() is None                 # not measured yet: under 5 s of stream
    _bridge_at(slow, 10, 8, start=3.0)
    assert "about 10 readings a second" in slow.pace_problem()
    health = slow.liveness.check(11.0)
    assert health.state == "degraded" and "RATE pin" in health.message
    said = LineDecoder()
    said.decode(0.0, "# hx711-bridge/1 rate=10")
    assert "reads at 10 Hz (its banner)" in said.pace_problem()
    assert LineDecoder("mt-sics").liveness.pace is None   # a trade scale's pace is its own
    paused = LineDecoder()                                # a scale silent for 10 s is not a slow one
    _bridge_at(paused, 80, 2)
    for seq in range(160, 160 + 80 * 6):
        paused.decode(12.0 + (seq - 160) / 80, encode_hx711(seq, 0))
    assert paused.pace_problem() is None
    later = LineDecoder()                                 # 10 minutes at 80 Hz, then the RATE pin drops
    _bridge_at(later, 80, 600)
    for k in range(100):
        later.decode(600.0 + k / 10, encode_hx711((48000 + k) % 65536, 0))
    assert "about 10 readings a second" in later.pace_problem()


@pytest.mark.parametrize("line,expected", [
    ("S S      1.250 kg", SicsWeight(1250.0, True)),
    ("S D      0.355 kg\r\n", SicsWeight(355.0, False)),
    ("T S      0.500 kg", SicsStatus("tared", "T S      0.500 kg")),
    ("Z I", SicsStatus("refused", "Z I")),
    ("T I", SicsStatus("refused", "T I")),
    ("Z +", SicsStatus("refused", "Z +")),
    ('I4 A "B123456789"', SicsStatus("ack", 'I4 A "B123456789"')),
])
def test_sics_trade_scale_lines(line, expected):
    got = parse_sics(line)
    if isinstance(expected, SicsWeight):
        assert isinstance(got, SicsWeight) and got.stable == expected.stable
        assert got.grams == pytest.approx(expected.grams)
    else:
        assert got == expected


def test_sics_encode_in_kg_like_a_trade_scale():
    assert encode_sics_weight(1250.0, True, "kg", 3) == b"S S      1.250 kg\r\n"
    assert parse_sics(encode_sics_weight(-40.0, False, "kg", 3)).grams == pytest.approx(-40.0)


def test_decoder_sics_zero_and_tare_acks_rebase_and_refusals_count():
    d = LineDecoder("mt-sics")
    assert d.decode(0.0, b"Z A\r\n") == [ScaleZeroed(0.0, "zero")]
    assert d.decode(0.1, b"T S      0.250 kg\r\n") == [ScaleZeroed(0.1, "tare")]
    assert d.decode(0.2, b"Z I\r\n") == [] and d.counters.refused == 1
    assert d.decode(0.3, b"EL\r\n") == [] and d.counters.bridge_errors == 1


def _stream(d, seqs, t0=0.0, rate=80.0):
    out = []
    for i, seq in enumerate(seqs):
        out += d.decode(t0 + i / rate, encode_hx711(seq, 100))
    return out


def test_a_repeated_line_is_a_duplicate_not_65535_lost():
    d = LineDecoder()
    out = _stream(d, [10, 11, 12, 12, 13, 14, 14, 15])
    c = d.counters
    assert (c.duplicates, c.lost_readings, c.seq_gaps, c.resyncs, c.readings) == (2, 0, 0, 0, 6)
    assert not any(isinstance(x, Gap) for x in out)


def test_a_jump_back_or_a_reset_without_banner_is_a_resync():
    d = LineDecoder()
    out = _stream(d, [30000, 30001, 29990, 29991, 0, 1, 2])
    c = d.counters
    assert (c.resyncs, c.lost_readings, c.seq_gaps) == (2, 0, 0)
    assert [x.lost for x in out if isinstance(x, Gap)] == [-1, -1]   # unknown loss, window restarts


def test_wrap_around_and_real_losses_are_counted_exactly():
    d = LineDecoder()
    d.decode(0.0, encode_hx711(65534, 0))
    d.decode(1 / 80, encode_hx711(65535, 0))
    d.decode(2 / 80, encode_hx711(0, 0))                   # wraps: nothing lost
    d.decode(2 / 80 + 11 / 80, encode_hx711(11, 0))        # 10 lost, and 11/80 s passed
    d.decode(2.0, encode_hx711((11 + 150) % 65536, 0))     # a 1.8 s stall: 149 lost
    c = d.counters
    assert (c.seq_gaps, c.lost_readings, c.resyncs) == (2, 159, 0)


def test_lost_readings_stay_right_through_a_stream_with_faults():
    # the bug of issue 19: ~199,000 "lost" where 3-4 thousand were; repeated and reordered
    # lines among real gaps
    rng = random.Random(4)
    d = LineDecoder()
    seq, t, true_lost = 0, 0.0, 0
    for _ in range(20000):
        r = rng.random()
        if r < 0.002:                       # a line repeated
            d.decode(t, encode_hx711((seq - 1) % 65536, 0))
        elif r < 0.003:                     # an older line arrives late
            d.decode(t, encode_hx711((seq - 5) % 65536, 0))
        elif r < 0.01:                      # a run of readings lost
            n = rng.randint(1, 40)
            seq = (seq + n) % 65536
            t += n / 80
            true_lost += n
        d.decode(t, encode_hx711(seq, 0))
        seq = (seq + 1) % 65536
        t += 1 / 80
    c = d.counters
    # a late line is a resync (and the readings after it look 4 lost): never ~65,000 a fault
    assert c.resyncs > 0 and c.duplicates > 0
    assert true_lost <= c.lost_readings <= true_lost + 4 * c.resyncs


def _talking_for_a_second() -> tuple[LineDecoder, Liveness]:
    """A bridge connected at 0 s that sent a clean second of readings (80 lines)."""
    d = LineDecoder()
    d.liveness.connected(0.0)
    for i in range(80):
        d.decode(i / 80, encode_hx711(i, 0))
    return d, d.liveness


def test_liveness_reports_a_mute_scale_and_a_corrupt_flood_with_counts():
    d, live = _talking_for_a_second()
    assert live.check(1.0).state == "ok"
    assert live.check(1.9).state == "ok"             # 0.91 s quiet (the last line came at 0.9875)
    assert live.check(2.1).state == "down" and d.counters.silences == 1
    for i in range(40):                              # it talks again, half of it garbage
        d.decode(2.2 + i / 80, encode_hx711(80 + i, 0) if i % 2 else b"R 1 2 ZZ\n")
    health = live.check(2.7)
    assert health.state == "degraded"
    # the window holds the last 2 s: the 40 new lines and 23 clean ones from before the silence
    assert "20 of 63 lines corrupt in the last 2 s" in health.message and "(20 of 120 in all)" in health.message
    for i in range(400):                             # clean again: the flood ages out of the window
        d.decode(2.7 + i / 80, encode_hx711(120 + i, 0))
    assert live.check(7.7).state == "ok" and d.counters.corrupt == 20


def test_liveness_reports_lines_that_carry_no_reading_with_what_they_say():
    # A hung bridge repeating its last line, a stream of bridge errors, a trade scale answering
    # S I: lines arrive, so it is not mute, but the weight is as unknown as if it were.
    d, live = _talking_for_a_second()
    stuck = encode_hx711(79, 0)
    for i in range(120):                               # 1.5 s of the same line
        d.decode(1.0 + i / 80, stuck)
    health = live.check(2.5)
    assert health.state == "down" and "the same reading (seq 79) again" in health.message
    assert d.counters.silences == 0 and d.counters.duplicates == 120
    for i in range(120):                               # the bridge reboots: errors only
        d.decode(2.5 + i / 80, b"E 1 HX711 not ready\n")
    health = live.check(4.0)
    assert health.state == "down" and 'E 1 HX711 not ready' in health.message
    for i in range(10):                                # readings again: ok at once
        d.decode(4.0 + i / 80, encode_hx711(i, 0))
    assert live.check(4.2).state == "ok"

    sics = LineDecoder("mt-sics")
    sics.liveness.connected(0.0)
    for i in range(8):
        sics.decode(i / 5, b"S I\r\n")
    health = sics.liveness.check(1.6)
    assert health.state == "down" and "'S I'" in health.message and "busy" in health.message
    sics.decode(1.7, b"S S      1.250 kg\r\n")
    assert sics.liveness.check(1.8).state == "ok"
