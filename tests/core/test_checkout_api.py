"""A third-party API fuzzer (schemathesis) holds the reference store to docs/store-api.yaml.

Generated requests (valid by the spec and deliberately invalid ones) are signed the way a cart
signs (``X-Dashcart-Signature: hmac-sha256=`` over the exact body bytes, with the key of the
cart in ``X-Dashcart-Cart``) and sent to the store on loopback HTTP; every answer must be one
the spec declares, with the declared content type and schema, never a 5xx, and invalid data
must be refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
requests = pytest.importorskip("requests")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,  # noqa: E402
                                               response_schema_conformance, status_code_conformance)

from dashcart.core.checkout.order import canonical_json, sign  # noqa: E402
from dashcart.sim.reference_store import ReferenceStore, StoreServer, read_signature  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "docs" / "store-api.yaml"
CART, KEY = "cart-0001", bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
CART_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SIGNATURE = re.compile(r"hmac-sha256=[0-9a-f]{64}")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]

schema = schemathesis.openapi.from_path(str(SPEC))
# Valid requests and deliberately invalid ones (wrong types, out of bounds, missing fields).
schema.config.generation.update(modes=["positive", "negative"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from tests.conftest import SHARED_DATA
    from dashcart.core.catalogue import Catalogue
    catalogue = Catalogue.from_csv(SHARED_DATA / "catalogue" / "demo_store.csv")
    server = StoreServer(ReferenceStore(tmp_path_factory.mktemp("store") / "store.sqlite", {CART: KEY},
                                        catalogue=catalogue)).start()
    yield server
    server.stop()


def signed_request(case, base_url: str) -> requests.Response:
    """The signing hook: the cart's id and an HMAC over the very bytes sent, unless the case
    deliberately made those headers invalid (then they go as generated)."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items()}
    body = None
    if "json" in kwargs:
        body = canonical_json(kwargs.pop("json")) if isinstance(case.body, (dict, list)) else \
            json.dumps(kwargs.pop("json")).encode()
    elif "data" in kwargs:
        data = kwargs.pop("data")
        body = data.encode() if isinstance(data, str) else data
    cart = headers.get("X-Dashcart-Cart")
    if isinstance(cart, str) and CART_ID.fullmatch(cart):
        headers["X-Dashcart-Cart"] = CART
    signature = headers.get("X-Dashcart-Signature")
    if isinstance(signature, str) and SIGNATURE.fullmatch(signature):
        path = requests.utils.urlparse(kwargs["url"]).path
        headers["X-Dashcart-Signature"] = sign(body or b"", KEY) if case.method == "POST" else \
            read_signature("GET", path, KEY)
    return requests.request(kwargs["method"], kwargs["url"], data=body, headers=headers,
                            params=kwargs.get("params"), timeout=10)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_request_gets_an_answer_the_spec_declares(case, store):
    response = signed_request(case, store.url)
    SEEN.append(response.status_code)
    case.validate_response(response, checks=CHECKS)


SEEN: list[int] = []


def test_the_fuzzer_reached_the_store_s_checks(store):
    """The run above is not all 404s: signed requests got as far as the order checks."""
    if not SEEN:
        pytest.skip("the fuzzing test did not run")
    print("statuses seen:", sorted(set(SEEN)))
    assert {400, 401} & set(SEEN) and len(set(SEEN)) >= 3, sorted(set(SEEN))
