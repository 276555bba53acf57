"""BLE advertising data -> beacon sightings: iBeacon and Eddystone (UID, EID; URL and TLM recognised).

Two ways in, one parser: raw HCI LE Advertising Report events (what ``btmon`` captures and
what the tests replay) and the already-split fields bleak hands over (manufacturer data by
company id, service data by UUID). Everything that is not exactly a beacon frame -- Apple's
other frames, AltBeacon, Mi Scale, vendor frames on the Eddystone UUID -- gives ``None``:
the lane must never be triggered by something that merely looks similar.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

APPLE = 0x004C
EDDYSTONE_UUID16 = 0xFEAA
_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

# Kinds a cart can locate itself by; URL and TLM frames are recognised only to be ignored.
LOCATING_KINDS = ("ibeacon", "eddystone-uid", "eddystone-eid")
_EDDYSTONE_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_EDDYSTONE_URL_CODES = (".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
                        ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov")


class MalformedAdvertisement(ValueError):
    """The bytes are not a well-formed HCI advertising report; the message says where it broke."""


@dataclass(frozen=True)
class Advertisement:
    """One advertising report: who sent it, how loud, and its AD structures split by type."""

    mac: str                                   # as printed on the device, most significant byte first
    rssi: int | None
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[int, bytes] = field(default_factory=dict)   # by 16-bit service UUID
    service_uuids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Beacon:
    kind: str        # ibeacon | eddystone-uid | eddystone-eid | eddystone-url | eddystone-tlm
    id: str          # ibeacon uuid:major:minor; uid namespace:instance; eid 16 hex digits; url the URL
    tx_power: int | None = None   # calibrated power: at 1 m for iBeacon, at 0 m for Eddystone

    @property
    def locates(self) -> bool:
        return self.kind in LOCATING_KINDS

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def _signed8(value: int) -> int:
    return value - 256 if value > 127 else value


def _mac(little_endian: bytes) -> str:
    return little_endian[::-1].hex().upper()


def parse_ad_structures(data: bytes) -> tuple[dict[int, bytes], dict[int, bytes], tuple[int, ...]]:
    """Split advertising data into manufacturer data, 16-bit service data and 16-bit service UUIDs."""
    manufacturer: dict[int, bytes] = {}
    services: dict[int, bytes] = {}
    uuids: list[int] = []
    pos = 0
    while pos < len(data):
        length = data[pos]
        if length == 0:  # padding: the rest of the field is unused
            break
        if pos + 1 + length > len(data):
            raise MalformedAdvertisement(f"AD structure at byte {pos} claims {length} bytes, only {len(data) - pos - 1} left")
        ad_type, body = data[pos + 1], data[pos + 2:pos + 1 + length]
        if ad_type == 0xFF and len(body) >= 2:
            manufacturer[int.from_bytes(body[:2], "little")] = bytes(body[2:])
        elif ad_type == 0x16 and len(body) >= 2:
            services[int.from_bytes(body[:2], "little")] = bytes(body[2:])
        elif ad_type in (0x02, 0x03):
            uuids.extend(int.from_bytes(body[i:i + 2], "little") for i in range(0, len(body) - 1, 2))
        pos += 1 + length
    return manufacturer, services, tuple(uuids)


def _advertisement(addr: bytes, data: bytes, rssi: int | None) -> Advertisement:
    manufacturer, services, uuids = parse_ad_structures(data)
    return Advertisement(_mac(addr), rssi, manufacturer, services, uuids)


def parse_hci_event(raw: bytes) -> list[Advertisement]:
    """The advertising reports in one HCI LE Meta event (legacy 0x02 or extended 0x0D).

    Other events give an empty list; truncated or inconsistent bytes raise
    :class:`MalformedAdvertisement`.
    """
    if len(raw) < 5 or raw[0] != 0x04 or raw[1] != 0x3E:
        return []
    if raw[2] != len(raw) - 3:
        raise MalformedAdvertisement(f"HCI event says {raw[2]} parameter bytes, has {len(raw) - 3}")
    subevent, count, body = raw[3], raw[4], raw[5:]
    reports: list[Advertisement] = []
    pos = 0
    try:
        for _ in range(count):
            if subevent == 0x02:        # LE Advertising Report
                addr = body[pos + 2:pos + 8]
                length = body[pos + 8]
                data = body[pos + 9:pos + 9 + length]
                rssi_at = pos + 9 + length
                if len(addr) < 6 or len(data) < length or rssi_at >= len(body):
                    raise IndexError
                reports.append(_advertisement(addr, data, _signed8(body[rssi_at])))
                pos = rssi_at + 1
            elif subevent == 0x0D:      # LE Extended Advertising Report
                addr = body[pos + 3:pos + 9]
                rssi = _signed8(body[pos + 13])
                length = body[pos + 23]
                data = body[pos + 24:pos + 24 + length]
                if len(addr) < 6 or len(data) < length:
                    raise IndexError
                reports.append(_advertisement(addr, data, rssi))
                pos += 24 + length
            else:
                return []
    except IndexError:
        raise MalformedAdvertisement(f"advertising report {len(reports) + 1} of {count} is truncated") from None
    return reports


def parse_hci_hex(text: str) -> list[Advertisement]:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise MalformedAdvertisement("not hexadecimal") from None
    return parse_hci_event(raw)


def _ibeacon(payload: bytes) -> Beacon | None:
    # Apple's type 0x02 with length 0x15 is iBeacon; 0x0F, 0x10 (Nearby) etc. are phones.
    if len(payload) != 23 or payload[0] != 0x02 or payload[1] != 0x15:
        return None
    if _signed8(payload[22]) >= 0:
        # Measured power is dBm at 1 m, always negative; vendors that reuse the layout for
        # sensor data (HolyIOT) put other bytes there.
        return None
    beacon_uuid = uuid.UUID(bytes=payload[2:18])
    major = int.from_bytes(payload[18:20], "big")
    minor = int.from_bytes(payload[20:22], "big")
    return Beacon("ibeacon", f"{beacon_uuid}:{major}:{minor}", _signed8(payload[22]))


def _eddystone_url(frame: bytes) -> str | None:
    if len(frame) < 3 or frame[2] >= len(_EDDYSTONE_URL_SCHEMES):
        return None
    text = _EDDYSTONE_URL_SCHEMES[frame[2]]
    for byte in frame[3:]:
        if byte < len(_EDDYSTONE_URL_CODES):
            text += _EDDYSTONE_URL_CODES[byte]
        elif 0x21 <= byte <= 0x7E:
            text += chr(byte)
        else:
            return None
    return text


def _eddystone(frame: bytes) -> Beacon | None:
    if not frame:
        return None
    frame_type = frame[0]
    if frame_type == 0x00 and len(frame) in (18, 20):   # UID; the last two bytes are reserved
        return Beacon("eddystone-uid", f"{frame[2:12].hex()}:{frame[12:18].hex()}", _signed8(frame[1]))
    if frame_type == 0x30 and len(frame) == 10:          # EID
        return Beacon("eddystone-eid", frame[2:10].hex(), _signed8(frame[1]))
    if frame_type == 0x10:                                # URL
        url = _eddystone_url(frame)
        return Beacon("eddystone-url", url, _signed8(frame[1])) if url else None
    if frame_type == 0x20 and len(frame) in (14, 18):     # TLM (plain or encrypted)
        return Beacon("eddystone-tlm", "")
    return None  # vendor frames on the Eddystone UUID (e.g. KKM 0x21) are not Eddystone


def beacon_from_fields(manufacturer_data: Mapping[int, bytes], service_data: Mapping[int, bytes]) -> Beacon | None:
    """The beacon these advertising fields carry, or None if they are not a beacon frame."""
    if APPLE in manufacturer_data:
        found = _ibeacon(manufacturer_data[APPLE])
        if found:
            return found
    if EDDYSTONE_UUID16 in service_data:
        return _eddystone(service_data[EDDYSTONE_UUID16])
    return None


def beacon_from_advertisement(ad: Advertisement) -> Beacon | None:
    return beacon_from_fields(ad.manufacturer_data, ad.service_data)


def service_data_by_uuid16(service_data: Mapping[str, bytes]) -> dict[int, bytes]:
    """bleak keys service data by the full 128-bit UUID string; keep the 16-bit SIG ones."""
    out: dict[int, bytes] = {}
    for key, value in service_data.items():
        key = key.lower()
        if key.endswith(_BASE_UUID_SUFFIX) and key.startswith("0000"):
            out[int(key[4:8], 16)] = bytes(value)
    return out


