"""``dashcart config``: every setting, from the config schema (the one place they are defined).

* ``--defaults``: the reference: every section and key with its default, what it means and
  what it accepts, as a TOML file that loads (docs/raspberry-pi.md embeds this output);
* ``--effective``: what this cart runs with (the config file laid over the defaults), secrets
  shown only as set or not; keys the file changed are marked.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dashcart.config import CameraSpec, Config, _toml_value
from dashcart.errors import Misconfigured

#: Keys whose values are secrets: ``--effective`` says only whether they are set.
SECRET_KEYS = ("cart_key", "lane_key", "staff_pin", "staff_pin_sha256", "key_file")
#: What a reference shows for a list of tables that is empty by default.
EXAMPLES: dict[str, list[Any]] = {"cameras.devices": [CameraSpec()]}


def _constraint(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(str(c) for c in meta["choices"]))
    if meta.get("min") is not None or meta.get("max") is not None:
        parts.append(f"{meta.get('min', '')}..{meta.get('max', '')}".replace("None", ""))
    if meta.get("nonzero"):
        parts.append("not 0")
    return "; ".join(parts)


def _comment(meta: Mapping[str, Any]) -> list[str]:
    text = "; ".join(t for t in (meta.get("doc", ""), _constraint(meta)) if t)
    return [f"# {text}"] if text else []


def _is_table_list(ftype: Any) -> bool:
    args = typing.get_args(ftype)
    return typing.get_origin(ftype) is list and bool(args) and dataclasses.is_dataclass(args[0])


def render(config: Config, *, effective: bool = False) -> str:
    """TOML text of every setting of ``config`` with its documentation."""
    defaults = Config()
    hints = {cls: typing.get_type_hints(cls) for cls in
             {type(getattr(config, s.name)) for s in dataclasses.fields(Config) if not s.metadata.get("internal")}}
    out: list[str] = []
    for section in dataclasses.fields(Config):
        if section.metadata.get("internal"):
            continue
        current, default = getattr(config, section.name), getattr(defaults, section.name)
        doc = (type(current).__doc__ or "").strip()
        if doc and not doc.startswith(type(current).__name__ + "("):
            out.extend(f"# {line.strip()}" for line in doc.splitlines() if line.strip())
        out.append(f"[{section.name}]")
        tables: list[str] = []
        for f in dataclasses.fields(current):
            value = getattr(current, f.name)
            name = f"{section.name}.{f.name}"
            if _is_table_list(hints[type(current)][f.name]):
                tables.extend(_tables(name, f, value, effective))
                continue
            out.extend(_comment(f.metadata))
            changed = effective and value != getattr(default, f.name)
            if effective and f.name in SECRET_KEYS:
                shown = '"<set>"' if value else '""'
            else:
                shown = _toml_value(value)
            out.append(f"{f.name} = {shown}" + ("    # set in the config file" if changed else ""))
        out.append("")
        out.extend(tables)
    return "\n".join(out).rstrip() + "\n"


def _tables(name: str, f: dataclasses.Field, value: list[Any], effective: bool) -> list[str]:
    lines = _comment(f.metadata)
    rows = value
    example = False
    if not rows and not effective:
        rows, example = EXAMPLES.get(name, []), True
    if not rows:
        return lines + [f"# (no [[{name}]] tables)", ""]
    for row in rows:
        if example:
            lines.append("# an example; the default is none")
        lines.append(("# " if example else "") + f"[[{name}]]")
        for sub in dataclasses.fields(row):
            lines.extend(("# " if example else "") + c for c in _comment(sub.metadata))
            lines.append(("# " if example else "") + f"{sub.name} = {_toml_value(getattr(row, sub.name))}")
        lines.append("")
    return lines


BEGIN, END = "<!-- BEGIN dashcart config --defaults -->\n```toml\n", "```\n<!-- END dashcart config --defaults -->"


def write_into(page: Path, text: str) -> bool:
    """Put ``text`` between the page's BEGIN/END markers; False when the page has none."""
    try:
        content = page.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Misconfigured(f"{page}: not UTF-8 text (byte {exc.start + 1}): not a docs page") from None
    start, end = content.find(BEGIN), content.find(END)
    if start < 0 or end < start:
        return False
    page.write_text(content[:start + len(BEGIN)] + text + content[end:], encoding="utf-8")
    return True


def run(args: argparse.Namespace, config: Config) -> int:
    text = render(Config() if args.defaults else config, effective=args.effective)
    if args.into:
        if not args.defaults:
            raise Misconfigured("--into: only with --defaults (the reference)")
        if not write_into(Path(args.into), text):
            raise Misconfigured(f"{args.into}: no {BEGIN.splitlines()[0]} ... {END.splitlines()[-1]} markers")
        print(f"config reference written into {args.into}")
        return 0
    print(text, end="")
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "config", parents=[common], help="every setting: the defaults, or what this cart runs with",
        description="Print every config setting as TOML with what it means and accepts, generated from the "
                    "config schema. --defaults: the reference (a file that loads as it is); --effective: this "
                    "cart's values (the config file over the defaults; secrets only as set or not).")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--defaults", action="store_true", help="every setting with its default")
    what.add_argument("--effective", action="store_true", help="every setting as this cart runs with it")
    parser.add_argument("--into", metavar="PAGE",
                        help="with --defaults: write the reference between the markers of this Markdown page "
                             "(docs/raspberry-pi.md) instead of printing it")
    parser.set_defaults(func=run)
