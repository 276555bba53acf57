"""Signed configuration documents from the fleet (``config/desired``), checked before they apply.

Pure: no clock, no threads, no I/O. A document is
``{"version": N, "doc": {section: {key: value}}, "sig": "<hex Ed25519>"}`` where the signature is
over the canonical JSON of ``{"doc": ..., "version": N}`` (keys sorted, no spaces, UTF-8). It applies
only when it is newer than the one applied, signed by the store's key, not meant for another
cart or store (:data:`SCOPE`), and valid against the config schema (the same checks as the TOML
file); anything else is rejected with one line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from dashcart.config import Config, _build, check_settings
from dashcart.core.canonical import canonical_json
from dashcart.errors import Misconfigured

#: Sections and keys a remote document may not set: the link itself (a forged broker or key
#: would cut the cart off its store), the cart's identity and where its state lives, and the
#: secrets (retained messages are readable by whoever may read the topic).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "fleet": (),          # the whole section
    "cart": ("id", "state_dir"),
    "checkout": ("cart_key", "lane_key"),
}
#: Keys a document may name only with this cart's own value: they say whom it is for. Signed
#: with the rest, they keep a document made for one cart (or store) from applying on another
#: that it is replayed to, e.g. through a shared or chain-wide broker.
SCOPE: dict[tuple[str, str], str] = {("cart", "id"): "cart", ("fleet", "store_id"): "store"}


def signed_message(doc: dict[str, Any], version: int) -> bytes:
    """The bytes that are signed: ``{"doc": doc, "version": version}`` in the canonical form."""
    return canonical_json({"doc": doc, "version": version})


@dataclass(frozen=True)
class DesiredConfig:
    version: int
    doc: dict[str, Any]
    sig: str


@dataclass(frozen=True)
class Verdict:
    """What to do with one received document: ``apply`` it (``config`` is the merged result), or
    reject it with ``reason``; ``stale`` marks a document that is not newer than the applied one."""

    apply: bool
    version: int | None
    reason: str = ""
    stale: bool = False
    desired: DesiredConfig | None = None
    config: Config | None = None


def parse_desired(payload: bytes) -> DesiredConfig:
    """The message's fields, or ``ValueError`` with a one-line reason."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = set(data) - {"version", "doc", "sig"}
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
    version, doc, sig = data.get("version"), data.get("doc"), data.get("sig")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("version: expected a positive integer")
    if not isinstance(doc, dict):
        raise ValueError("doc: expected an object")
    if not isinstance(sig, str) or not sig:
        raise ValueError("unsigned (no sig)")
    return DesiredConfig(version, doc, sig)


def verify_signature(desired: DesiredConfig, public_key: bytes) -> str:
    """'' when ``sig`` is the key's Ed25519 signature of the canonical JSON, else the reason."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        signature = bytes.fromhex(desired.sig)
    except ValueError:
        return "sig: not hex"
    if len(signature) != 64:
        return f"sig: an Ed25519 signature is 64 bytes, got {len(signature)}"
    try:
        message = signed_message(desired.doc, desired.version)
    except ValueError as exc:   # NaN or infinity have no JSON form
        return f"doc: {exc}"
    try:
        VerifyKey(public_key).verify(message, signature)
    except BadSignatureError:
        return "bad signature (not signed by fleet.config_public_key)"
    return ""


def out_of_scope(doc: dict[str, Any], base: Config) -> str:
    """'' when the document is for this cart (it names no other cart or store), else why not."""
    for (section, key), what in SCOPE.items():
        values = doc.get(section)
        own = getattr(getattr(base, section), key)
        if isinstance(values, dict) and key in values and values[key] != own:
            return f"for {what} {values[key]!r}, not this {what} ({own!r})"
    return ""


def merge(base: Config, doc: dict[str, Any]) -> Config:
    """``base`` with the document's sections laid over it, checked like the TOML file.
    Raises :class:`Misconfigured` (one line naming the key) for anything the file would refuse
    and for the keys in :data:`FORBIDDEN` (those of :data:`SCOPE`, already checked by
    :func:`out_of_scope`, change nothing and are left out)."""
    scoped: dict[str, Any] = {}
    for section, values in doc.items():
        if isinstance(values, dict):
            values = {k: v for k, v in values.items() if (section, k) not in SCOPE}
            if not values and section in FORBIDDEN:
                continue   # e.g. {"fleet": {"store_id": ...}}: it only said whom it is for
        scoped[section] = values
    doc = scoped
    for section, values in doc.items():
        if section in FORBIDDEN:
            keys = FORBIDDEN[section]
            if not keys:
                raise Misconfigured(f"{section}: may not be set remotely")
            if isinstance(values, dict):
                for key in values:
                    if key in keys:
                        raise Misconfigured(f"{section}.{key}: may not be set remotely")
    data = {f.name: dataclasses.asdict(getattr(base, f.name))
            for f in dataclasses.fields(Config) if not f.metadata.get("internal")}
    for section, values in doc.items():
        if section not in data:
            known = ", ".join(sorted(data))
            raise Misconfigured(f"unknown section {section!r} (known: {known})")
        if not isinstance(values, dict):
            raise Misconfigured(f"{section}: expected an object of settings")
        data[section] = {**data[section], **values}
    merged = _build(Config, data, "")
    check_settings(merged)   # what the file is checked for as it is read
    return dataclasses.replace(merged, source=base.source)


def judge(payload: bytes, *, applied_version: int, public_key: bytes | None, base: Config) -> Verdict:
    """The verdict on one ``config/desired`` message for a cart that runs ``applied_version``
    (0: none) on top of ``base`` (its own config file)."""
    try:
        desired = parse_desired(payload)
    except ValueError as exc:
        return Verdict(False, None, str(exc))
    if desired.version <= applied_version:
        return Verdict(False, desired.version, f"version {desired.version} is not newer than the applied "
                                               f"{applied_version}", stale=True, desired=desired)
    if public_key is None:
        return Verdict(False, desired.version, "no fleet.config_public_key on this cart", desired=desired)
    problem = verify_signature(desired, public_key) or out_of_scope(desired.doc, base)
    if problem:
        return Verdict(False, desired.version, problem, desired=desired)
    try:
        config = merge(base, desired.doc)
    except Misconfigured as exc:
        return Verdict(False, desired.version, f"invalid: {exc}", desired=desired)
    return Verdict(True, desired.version, desired=desired, config=config)
