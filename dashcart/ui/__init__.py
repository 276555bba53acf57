"""The pygame-ce touchscreen: draws the controller's snapshot, posts shopper actions."""
