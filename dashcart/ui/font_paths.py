"""Where a font with Hangul is installed (no pygame here: `dashcart doctor` reads this too)."""

from __future__ import annotations

from pathlib import Path

# (regular, bold) pairs, best first. Nanum Gothic (Debian fonts-nanum) is small and hinted
# for screens; Noto Sans CJK (fonts-noto-cjk) works too.
KNOWN_FONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"),
    ("/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf", "/usr/share/fonts/truetype/nanum/NanumBarunGothicBold.ttf"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/truetype/noto/NotoSansKR-Regular.ttf", "/usr/share/fonts/truetype/noto/NotoSansKR-Bold.ttf"),
)

INSTALL_HINT = "install a Hangul font: `apt-get install fonts-nanum` (or set ui.font)"


def installed_hangul_font(configured: str = "") -> str | None:
    """The configured font if it exists, else the first known one installed."""
    for path in ([configured] if configured else []) + [regular for regular, _ in KNOWN_FONTS]:
        if Path(path).is_file():
            return path
    return None
