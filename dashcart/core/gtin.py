"""GTIN arithmetic for the four retail symbologies the cart reads.

Every code the cart passes on is a 13-digit string (GTIN-13): UPC-A gets a leading zero,
EAN-8 five, and UPC-E is expanded to its UPC-A first (GS1 General Specifications 5.2.2.4.2).
"""

from __future__ import annotations


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for ``body`` (all digits but the last)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_valid(digits: str) -> bool:
    """True for a digit string of a GTIN length whose last digit checks."""
    return (digits.isascii() and digits.isdigit() and len(digits) in (8, 12, 13, 14)
            and check_digit(digits[:-1]) == digits[-1])


def upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, six digits, check) to its 12-digit UPC-A."""
    if len(upce) != 8 or not upce.isdigit() or upce[0] not in "01":
        raise ValueError(f"not a UPC-E: {upce!r}")
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def upca_to_upce(upca: str) -> str | None:
    """The 8-digit UPC-E that expands to ``upca``, or None when it has no zero-suppressed form."""
    if len(upca) != 12 or not upca.isdigit() or upca[0] not in "01":
        return None
    ns, m, p, check = upca[0], upca[1:6], upca[6:11], upca[11]
    if m[2] in "012" and m[3:5] == "00" and p[0:2] == "00":
        short = m[0:2] + p[2:5] + m[2]
    elif m[3:5] == "00" and p[0:3] == "000":
        short = m[0:3] + p[3:5] + "3"
    elif m[4] == "0" and p[0:4] == "0000":
        short = m[0:4] + p[4] + "4"
    elif p[0:4] == "0000" and p[4] in "56789":
        short = m + p[4]
    else:
        return None
    candidate = ns + short + check
    return candidate if upce_to_upca(candidate) == upca else None


def to_gtin13(fmt: str, text: str) -> str:
    """The GTIN-13 of a code printed as ``text`` in format ``fmt`` (EAN-13, UPC-A, EAN-8, UPC-E)."""
    if fmt == "UPC-E":
        return "0" + upce_to_upca(text)
    return text.zfill(13)
