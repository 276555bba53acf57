"""Checkout: the order, its signature, the outbox, the store API client and the receipt.

The controller uses :class:`cart.checkout.service.CheckoutService` (see ``docs/checkout.md``).
"""
