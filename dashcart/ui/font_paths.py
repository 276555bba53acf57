"""Where the font with Hangul is (no pygame here: `dashcart doctor` reads this too).

The package ships its own (``fontfiles/``: Dashcart Gothic, a subset of NanumGothic under the
OFL), so no system font is needed; ``ui.font`` may name another.
"""

from __future__ import annotations

from pathlib import Path

_FONT_DIR = Path(__file__).resolve().parent / "fontfiles"
#: The shipped (regular, bold) pair: English and every Hangul syllable.
BUNDLED_FONT: tuple[str, str] = (str(_FONT_DIR / "DashcartGothic-Regular.ttf"), str(_FONT_DIR / "DashcartGothic-Bold.ttf"))

# (regular, bold) pairs, best first. Nanum Gothic (Debian fonts-nanum) is small and hinted
# for screens; Noto Sans CJK (fonts-noto-cjk) works too.
KNOWN_FONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"),
    ("/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf", "/usr/share/fonts/truetype/nanum/NanumBarunGothicBold.ttf"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/truetype/noto/NotoSansKR-Regular.ttf", "/usr/share/fonts/truetype/noto/NotoSansKR-Bold.ttf"),
)

INSTALL_HINT = f"reinstall dashcart (its font {BUNDLED_FONT[0]} is missing) or set ui.font to a TTF with Hangul"


def installed_hangul_font(configured: str = "") -> str | None:
    """The configured font if it exists, else the shipped one, else the first known one installed."""
    for path in ([configured] if configured else []) + [BUNDLED_FONT[0]] + [regular for regular, _ in KNOWN_FONTS]:
        if Path(path).is_file():
            return path
    return None
