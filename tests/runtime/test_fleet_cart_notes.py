"""What of the controller's notes the fleet hears, and which it hears as faults."""

from types import SimpleNamespace

from dashcart.config import parse_config
from dashcart.runtime.fleet_cart import CartFleet


def test_a_call_for_staff_a_disputed_or_unverified_answer_and_a_possible_swap_are_faults_and_no_token_leaves(tmp_path):
    cart = CartFleet(SimpleNamespace(config=parse_config(f'[cart]\nstate_dir = "{tmp_path}"\n')))
    sent = []
    cart.link = SimpleNamespace(telemetry=lambda kind, data, fault=False: sent.append((kind, data, fault)))
    for entry in ({"t": 1.0, "type": "staff_call", "where": "help"},
                  {"t": 2.0, "type": "disputed", "id": 3, "answer": "4011", "seen": ["4648"], "delta_g": 800.0},
                  {"t": 3.0, "type": "added", "code": "4011", "qty": 1, "by": "fusion"},
                  {"t": 4.0, "type": "rejected", "action": "signin", "value": "dcs1:the-shoppers-token"},
                  {"t": 5.0, "type": "possible_swap", "seen": ["2290000001291"], "gone": "2280000001285",
                   "load_g": 1062.0},
                  {"t": 6.0, "type": "unverified", "id": 4, "answer": "2460000001465", "could_be": ["own"],
                   "delta_g": -318.0}):
        cart.note(entry)
    assert [(kind, fault) for kind, _, fault in sent] == [
        ("note.staff_call", True), ("note.disputed", True), ("note.added", False), ("note.rejected", False),
        ("note.possible_swap", True), ("note.unverified", True)]
    assert sent[1][1] == {"t": 2.0, "id": 3, "answer": "4011", "seen": ["4648"], "delta_g": 800.0}
    assert "the-shoppers-token" not in repr(sent)
