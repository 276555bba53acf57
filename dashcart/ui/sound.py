"""The short beep when an item is added, made in memory (no sound files to ship).

No audio device (a Pi without a speaker, CI): the beeper is silent and says so once.
"""

from __future__ import annotations

import logging

import numpy as np
import pygame

log = logging.getLogger("dashcart.ui.sound")


def beep_samples(rate: int, channels: int, freq: float = 1320.0, seconds: float = 0.09,
                 volume: float = 0.5) -> np.ndarray:
    """A sine burst with 10 ms fades (no click), as int16 frames x channels."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    wave = np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, int(rate * 0.01))
    envelope = np.ones(n)
    envelope[:fade] = np.linspace(0, 1, fade)
    envelope[n - fade:] = np.linspace(1, 0, fade)
    mono = (wave * envelope * volume * 32767).astype(np.int16)
    return np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono


class Beeper:
    def __init__(self, enabled: bool, volume: float = 0.5) -> None:
        self._sound: pygame.mixer.Sound | None = None
        if not enabled:
            return
        try:
            if not pygame.mixer.get_init():
                pygame.mixer.init(frequency=22050, size=-16, channels=1)
            rate, _size, channels = pygame.mixer.get_init()
            self._sound = pygame.sndarray.make_sound(beep_samples(rate, channels, volume=volume))
        except (pygame.error, ValueError) as exc:
            log.warning("no audio device (%s): the cart will not beep", str(exc).splitlines()[0] if str(exc) else exc)

    @property
    def audible(self) -> bool:
        return self._sound is not None

    def beep(self) -> None:
        if self._sound is not None:
            self._sound.play()
