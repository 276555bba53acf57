"""dashcart: the brain of the smart shopping cart.

Modules here are pure logic driven by timestamped events (they never read the wall
clock), plus the wiring: configuration, the command line and the controller.
"""

__version__ = "0.1.0"
