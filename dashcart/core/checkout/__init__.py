"""Checkout: the order, its signature, the outbox, the store API client and the receipt.

The controller uses :class:`dashcart.runtime.checkout_sender.CheckoutService` (see ``docs/checkout.md``).
"""
