"""The product catalogue: SQLite, imported from the store's CSV after checking every row.

A product is known by its code: a GTIN-13 (cartons; EAN-8 and UPC-A are widened to 13
digits on import) or a produce PLU (4 digits, or 5 with a leading 9 for organic). Prices are
integer cents, per unit or per kg for items sold by weight. Unit weights (mean and spread,
grams) let the fusion tell one unit from two, and one product from another.

An import either replaces the whole catalogue or changes nothing: every problem in the file
is collected with its line number first, and the rows go in inside one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from dashcart.core.gtin import check_digit, is_valid
from dashcart.core.pricing import MAX_QTY, PROMOTION_KINDS, Promotion, promotions_by_code, weight_price_cents
from dashcart.errors import Misconfigured, read_user_file

REQUIRED_COLUMNS = ("code", "code_type", "name", "sold_by", "price_cents", "unit_weight_g",
                    "unit_weight_sd_g", "zone")
OPTIONAL_COLUMNS = ("group", "category", "net_content", "gsd_class_id", "gsd_class", "image")
CODE_TYPES = ("ean13", "ean8", "upca", "plu")
SOLD_BY = ("unit", "weight")

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    code TEXT PRIMARY KEY,
    code_type TEXT NOT NULL,
    name TEXT NOT NULL,
    grp TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    sold_by TEXT NOT NULL CHECK (sold_by IN ('unit', 'weight')),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    unit_weight_g REAL NOT NULL CHECK (unit_weight_g > 0),
    unit_weight_sd_g REAL NOT NULL CHECK (unit_weight_sd_g >= 0),
    net_content TEXT NOT NULL DEFAULT '',
    zone TEXT NOT NULL DEFAULT '',
    gsd_class_id INTEGER,
    gsd_class TEXT NOT NULL DEFAULT '',
    image TEXT
);
CREATE TABLE IF NOT EXISTS catalogue_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS promotions (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    qty INTEGER NOT NULL DEFAULT 1,
    starts_at REAL,
    ends_at REAL,
    label TEXT NOT NULL DEFAULT ''
);
"""
PROMOTION_COLUMNS = ("id", "code", "kind", "value", "qty", "starts", "ends", "label")


@dataclass(frozen=True)
class Product:
    code: str
    code_type: str
    name: str
    sold_by: str
    price_cents: int                 # per unit, or per kg when sold by weight
    unit_weight_g: float
    unit_weight_sd_g: float
    zone: str = ""
    group: str = ""
    category: str = ""
    net_content: str = ""
    gsd_class_id: int | None = None
    gsd_class: str = ""
    image: str | None = None

    @property
    def by_weight(self) -> bool:
        return self.sold_by == "weight"

    def price_for(self, qty: int, weight_g: float | None = None) -> int:
        """The line price in cents: qty x unit price, or the weighed grams at the price per kg."""
        if self.by_weight:
            # The one rounding rule of dashcart.core.pricing (halves up), so screen, order and store agree.
            return weight_price_cents(self.price_cents, weight_g or 0.0)
        return self.price_cents * qty


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


class CatalogueInvalid(Misconfigured):
    """A catalogue file with problems; ``problems`` has every one, with its line."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{self.summary()}; nothing imported")

    def summary(self) -> str:
        """The first problem, and how many more there are, in one line."""
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        return f"{self.source}:{first.line}: {first.message}{more}"

    def lines(self) -> list[str]:
        return [f"{self.source}:{p.line}: {p.message}" for p in self.problems]


def valid_plu(code: str) -> bool:
    if not code.isdigit():
        return False
    if len(code) == 5 and code[0] in "89":
        code = code[1:]
    return len(code) == 4 and 3000 <= int(code) <= 4999


def widen_to_gtin13(code: str) -> str:
    """EAN-8 and UPC-A as the 13-digit GTIN the barcode reader reports."""
    return code.zfill(13)


#: The largest whole number SQLite stores (a signed 64-bit INTEGER).
SQLITE_MAX_INT = 2**63 - 1


def _csv_lines(reader: Iterator[list[str]], problems: list[Problem], start: int) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) from ``reader``; a line the csv module cannot read (a field over its
    128 KiB limit) is a problem on that line, and the reading stops there (what follows is
    no longer known to be lined up)."""
    line = start
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(Problem(line, f"cannot read the line: {exc}"))
            return
        yield line, values
        line += 1


def _parse_row(line: int, row: dict[str, str], problems: list[Problem]) -> Product | None:
    before = len(problems)

    def bad(message: str) -> None:
        problems.append(Problem(line, message))

    code = row["code"].strip()
    code_type = row["code_type"].strip().lower()
    if code_type not in CODE_TYPES:
        bad(f"code_type {code_type!r} is not one of {', '.join(CODE_TYPES)}")
    elif code_type == "plu":
        if not valid_plu(code):
            bad(f"code {code!r} is not a PLU (4 digits 3000-4999, or 5 with a leading 8 or 9)")
    else:
        length = {"ean13": 13, "ean8": 8, "upca": 12}[code_type]
        if not code.isdigit() or len(code) != length:
            bad(f"code {code!r} is not {length} digits for {code_type}")
        elif not is_valid(code):
            bad(f"code {code!r} has a wrong check digit (expected {check_digit(code[:-1])})")
        else:
            code = widen_to_gtin13(code)
    name = row["name"].strip()
    if not name:
        bad("name is empty")
    sold_by = row["sold_by"].strip().lower()
    if sold_by not in SOLD_BY:
        bad(f"sold_by {sold_by!r} is not one of unit, weight")

    def number(key: str, kind: type, minimum: float, strict: bool) -> float | int:
        text = row[key].strip()
        try:
            value = kind(text)
        except ValueError:
            bad(f"{key} {text!r} is not {'a whole number' if kind is int else 'a number'}")
            return 0
        if value != value or value in (float("inf"), float("-inf")):
            bad(f"{key} {text!r} is not a finite number")
        elif kind is int and value > SQLITE_MAX_INT:
            bad(f"{key} {text} is too large (at most {SQLITE_MAX_INT})")
        elif value < minimum or (strict and value == minimum):
            bad(f"{key} {text} must be {'above' if strict else 'at least'} {minimum:g}")
        return value

    # At least a cent: the store API prices every line of an order at 1 cent or more, so a free
    # product in the basket would make the whole order unpayable at the lane.
    price = number("price_cents", int, 1, False)
    mean = number("unit_weight_g", float, 0, True)
    sd = number("unit_weight_sd_g", float, 0, False)
    class_text = (row.get("gsd_class_id") or "").strip()
    class_id: int | None = None
    if class_text:
        try:
            class_id = int(class_text)
            if class_id < 0:
                bad(f"gsd_class_id {class_text} must be at least 0")
            elif class_id > SQLITE_MAX_INT:
                bad(f"gsd_class_id {class_text} is too large (at most {SQLITE_MAX_INT})")
        except ValueError:
            bad(f"gsd_class_id {class_text!r} is not a whole number")
    if len(problems) > before:
        return None
    return Product(code=code, code_type=code_type, name=name, sold_by=sold_by, price_cents=int(price),
                   unit_weight_g=float(mean), unit_weight_sd_g=float(sd), zone=row["zone"].strip(),
                   group=(row.get("group") or "").strip(), category=(row.get("category") or "").strip(),
                   net_content=(row.get("net_content") or "").strip(), gsd_class_id=class_id,
                   gsd_class=(row.get("gsd_class") or "").strip(), image=(row.get("image") or "").strip() or None)


def parse_catalogue_csv(path: str | Path) -> list[Product]:
    """Read and check a catalogue CSV; raise :class:`CatalogueInvalid` with every problem."""
    path = Path(path)
    text = read_user_file(path, "no such catalogue file", encoding="utf-8-sig")
    reader = csv.reader(text.splitlines())
    problems: list[Problem] = []
    header = next((values for _, values in _csv_lines(reader, problems, 1)), None)
    if problems:
        raise CatalogueInvalid(str(path), problems)
    if not header:
        raise CatalogueInvalid(str(path), [Problem(1, "empty file: expected a header line")])
    header = [h.strip() for h in header]
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for name in header:
        if name not in known:
            problems.append(Problem(1, f"unknown column {name!r} (known: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})"))
    for name in REQUIRED_COLUMNS:
        if name not in header:
            problems.append(Problem(1, f"missing column {name!r}"))
    if len(set(header)) != len(header):
        problems.append(Problem(1, "a column appears twice"))
    if problems:
        raise CatalogueInvalid(str(path), problems)
    products: list[Product] = []
    first_line: dict[str, int] = {}
    class_line: dict[int, int] = {}
    for line, values in _csv_lines(reader, problems, 2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(Problem(line, f"{len(values)} fields, expected {len(header)}"))
            continue
        product = _parse_row(line, dict(zip(header, values)), problems)
        if product is None:
            continue
        if product.code in first_line:
            problems.append(Problem(line, f"duplicate code {product.code} (first on line {first_line[product.code]})"))
            continue
        if product.gsd_class_id is not None:
            if product.gsd_class_id in class_line:
                problems.append(Problem(line, f"duplicate gsd_class_id {product.gsd_class_id} "
                                              f"(first on line {class_line[product.gsd_class_id]})"))
                continue
            class_line[product.gsd_class_id] = line
        first_line[product.code] = line
        products.append(product)
    if problems:
        raise CatalogueInvalid(str(path), problems)
    if not products:
        raise CatalogueInvalid(str(path), [Problem(2, "no products")])
    return products


def _parse_when(text: str) -> float | None:
    """ISO 8601 with a zone (2026-12-01T00:00:00Z) or Unix seconds; '' is no bound."""
    from datetime import datetime

    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))  # ValueError if not a date
    if when.tzinfo is None:
        raise ValueError("needs a time zone (e.g. Z or +01:00)")
    return when.timestamp()


def parse_promotions_csv(path: str | Path, products: Iterable[Product] | None = None) -> list[Promotion]:
    """Read and check a promotions CSV (columns ``id,code,kind,value,qty,starts,ends,label``).

    ``kind`` is percent (value 1-100), amount (cents off per unit, or off a weighed line),
    multibuy (``qty`` units for ``value`` cents), per_kg (cents off the price per kg);
    ``starts``/``ends`` are ISO 8601 with a zone or Unix seconds, empty for open. With
    ``products``, every code must name one and the kind must suit how it is sold. Raises
    :class:`CatalogueInvalid` with every problem and its line.
    """
    path = Path(path)
    text = read_user_file(path, "no such promotions file", encoding="utf-8-sig")
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, None) or []]
    problems: list[Problem] = []
    if not header:
        raise CatalogueInvalid(str(path), [Problem(1, "empty file: expected a header line")])
    for name in header:
        if name not in PROMOTION_COLUMNS:
            problems.append(Problem(1, f"unknown column {name!r} (known: {', '.join(PROMOTION_COLUMNS)})"))
    for name in ("id", "code", "kind", "value"):
        if name not in header:
            problems.append(Problem(1, f"missing column {name!r}"))
    if problems:
        raise CatalogueInvalid(str(path), problems)
    by_code = {p.code: p for p in products} if products is not None else None
    promotions: list[Promotion] = []
    seen: dict[str, int] = {}
    for line, values in _csv_lines(reader, problems, 2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(Problem(line, f"{len(values)} fields, expected {len(header)}"))
            continue
        row = {k: v.strip() for k, v in zip(header, values)}
        before = len(problems)

        def bad(message: str, line: int = line) -> None:  # bound now: a closure would see the loop's last line
            problems.append(Problem(line, message))

        promo_id, code, kind = row["id"], row["code"], row["kind"].lower()
        if not promo_id:
            bad("id is empty")
        elif promo_id in seen:
            bad(f"duplicate id {promo_id!r} (first on line {seen[promo_id]})")
        else:
            seen[promo_id] = line
        if kind not in PROMOTION_KINDS:
            bad(f"kind {kind!r} is not one of {', '.join(PROMOTION_KINDS)}")
        value = qty = 0
        try:
            value = int(row["value"])
        except ValueError:
            bad(f"value {row['value']!r} is not a whole number of cents (or percent)")
        try:
            qty = int(row.get("qty") or "1")
        except ValueError:
            bad(f"qty {row.get('qty')!r} is not a whole number")
        if kind == "percent" and not 1 <= value <= 100:
            bad(f"value {value} must be 1-100 for percent")
        elif kind in ("amount", "multibuy", "per_kg") and value < (0 if kind == "multibuy" else 1):
            bad(f"value {value} must be positive for {kind}")
        if kind == "multibuy" and not 2 <= qty <= MAX_QTY:
            bad(f"qty {qty} must be 2-{MAX_QTY} for multibuy")
        starts = ends = None
        for key in ("starts", "ends"):
            try:
                when = _parse_when(row.get(key, ""))
            except ValueError as exc:
                bad(f"{key} {row.get(key)!r} is not a time ({exc})")
                continue
            if key == "starts":
                starts = when
            else:
                ends = when
        if starts is not None and ends is not None and ends <= starts:
            bad("ends must be after starts")
        if by_code is not None and kind in PROMOTION_KINDS:
            product = by_code.get(code)
            if product is None:
                bad(f"code {code!r} is not in the catalogue")
            elif kind == "multibuy" and product.by_weight:
                bad(f"multibuy needs a product sold by unit; {code} is sold by weight")
            elif kind == "per_kg" and not product.by_weight:
                bad(f"per_kg needs a product sold by weight; {code} is sold by unit")
        if len(problems) > before:
            continue
        promotions.append(Promotion(id=promo_id, code=code, kind=kind, value=value, qty=qty,
                                    starts_at=starts, ends_at=ends, label=row.get("label", "")))
    if problems:
        raise CatalogueInvalid(str(path), problems)
    return promotions


def sibling_promotions(csv_path: str | Path) -> Path | None:
    """The promotions file that travels with a catalogue CSV: ``promotions.csv`` beside it."""
    candidate = Path(csv_path).with_name("promotions.csv")
    return candidate if candidate.is_file() else None


def iconic_images(dataset_root: str | Path) -> dict[str, str]:
    """gsd_class -> iconic product picture, from the Grocery Store Dataset's classes.csv."""
    root = Path(dataset_root)
    images: dict[str, str] = {}
    classes = root / "classes.csv"
    if not classes.is_file():
        return images
    with classes.open(encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) >= 5 and row[4].startswith("/"):
                picture = root / row[4].lstrip("/")
                if picture.is_file():
                    images[row[0]] = str(picture.resolve())
    return images


def _fingerprint(products: Iterable[Product]) -> str:
    digest = hashlib.sha256()
    for p in sorted(products, key=lambda p: p.code):
        digest.update(repr((p.code, p.name, p.sold_by, p.price_cents, p.unit_weight_g, p.unit_weight_sd_g)).encode())
    return digest.hexdigest()[:16]


class Catalogue:
    """Products by code, barcode and recognizer class, held in memory for the fusion's hot path."""

    def __init__(self, products: Iterable[Product], source: str = "", promotions: Iterable[Promotion] = ()):
        self.source = source
        self._by_code = {p.code: p for p in products}
        # Promotions for dashcart.core.pricing.price_basket(items, catalogue, at, catalogue.promotions).
        self.promotions: tuple[Promotion, ...] = tuple(promotions)
        self.promotions_by_code = promotions_by_code(self.promotions)
        self._by_class = {p.gsd_class: p for p in self._by_code.values() if p.gsd_class}
        self._by_class_id = {p.gsd_class_id: p for p in self._by_code.values() if p.gsd_class_id is not None}
        self.fingerprint = _fingerprint(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Product]:
        return iter(sorted(self._by_code.values(), key=lambda p: p.code))

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> Product:
        """The product of ``code``; KeyError for a code the catalogue lacks (use :meth:`get` to ask)."""
        return self._by_code[code]

    def get(self, code: str) -> Product | None:
        return self._by_code.get(code)

    def by_gtin(self, gtin13: str) -> Product | None:
        """The product a barcode read names; PLU codes printed as GTINs (0000000004011) too."""
        product = self._by_code.get(gtin13)
        if product is None and gtin13.startswith("00000000"):
            product = self._by_code.get(gtin13.lstrip("0")[:-1]) or self._by_code.get(gtin13.lstrip("0"))
        return product

    def by_class(self, gsd_class: str | int) -> Product | None:
        if isinstance(gsd_class, int):
            return self._by_class_id.get(gsd_class)
        return self._by_class.get(gsd_class)

    def in_zone(self, zone: str) -> list[Product]:
        return [p for p in self if p.zone == zone]

    @classmethod
    def from_csv(cls, path: str | Path, images_root: str | Path | None = None,
                 promotions: str | Path | None = None) -> Catalogue:
        """``promotions``: a promotions CSV; by default ``promotions.csv`` beside the catalogue, if any."""
        products = parse_catalogue_csv(path)
        promotions_path = Path(promotions) if promotions is not None else sibling_promotions(path)
        promos = parse_promotions_csv(promotions_path, products) if promotions_path is not None else []
        return cls(_with_images(products, images_root, Path(path)), source=str(path), promotions=promos)

    @classmethod
    def open(cls, db_path: str | Path) -> Catalogue:
        db_path = Path(db_path)
        if not db_path.is_file():
            raise NoCatalogueYet(f"{db_path}: no catalogue database; run `dashcart catalogue import FILE.csv`")
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'products'").fetchone() is None \
                        and conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gallery'").fetchone():
                    raise NoCatalogueYet(f"{db_path}: no catalogue imported yet, only enrolled photos; "
                                         "run `dashcart catalogue import FILE.csv`")
                rows = conn.execute("SELECT code, code_type, name, sold_by, price_cents, unit_weight_g, "
                                    "unit_weight_sd_g, zone, grp, category, net_content, gsd_class_id, "
                                    "gsd_class, image FROM products").fetchall()
                has_promotions = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                              "AND name = 'promotions'").fetchone() is not None
                promo_rows = conn.execute("SELECT id, code, kind, value, qty, starts_at, ends_at, label "
                                          "FROM promotions").fetchall() if has_promotions else []
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise Misconfigured(f"{db_path}: not a catalogue database: {exc}") from None
        names = [f.name for f in fields(Product)]
        for row in rows:
            _check_stored_row(db_path, dict(zip(names, row)))
        return cls((Product(**dict(zip(names, row))) for row in rows), source=str(db_path),
                   promotions=[Promotion(*row) for row in promo_rows])


class NoCatalogueYet(Misconfigured):
    """No products in the database yet (none imported; perhaps photos enrolled ahead of it): a
    cart runs as with no database at all, a command that lists products says so."""


def _check_stored_row(db_path: Path, row: dict[str, object]) -> None:
    """A products row as the import wrote it, or Misconfigured naming the product and the field (a
    damaged or hand-edited database must not price a basket with text)."""
    kinds: dict[str, type | tuple[type, ...]] = {"code": str, "name": str, "sold_by": str, "price_cents": int,
                                                 "unit_weight_g": (int, float), "unit_weight_sd_g": (int, float)}
    for key, kind in kinds.items():
        value = row.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Misconfigured(f"{db_path}: product {row.get('code')!r}: {key} {value!r} is not what an import "
                                f"writes; import the catalogue again")
    if row["sold_by"] not in SOLD_BY:
        raise Misconfigured(f"{db_path}: product {row['code']!r}: sold_by {row['sold_by']!r} is not one of "
                            f"{', '.join(SOLD_BY)}; import the catalogue again")


def _with_images(products: list[Product], images_root: str | Path | None, csv_path: Path) -> list[Product]:
    """Fill in missing pictures from the dataset's iconic images (the demo store's products)."""
    if images_root is None:
        guess = csv_path.resolve().parent.parent / "grocery-store"
        images_root = guess if guess.is_dir() else None
    if images_root is None:
        return products
    pictures = iconic_images(images_root)
    out = []
    for p in products:
        if p.image is None and p.gsd_class in pictures:
            p = Product(**{**{f.name: getattr(p, f.name) for f in fields(Product)}, "image": pictures[p.gsd_class]})
        out.append(p)
    return out


def import_catalogue(csv_path: str | Path, db_path: str | Path, images_root: str | Path | None = None,
                     promotions: str | Path | None = None) -> int:
    """Replace the catalogue in ``db_path`` with the checked CSV (and its promotions: ``promotions``,
    or ``promotions.csv`` beside the CSV); all or nothing. Returns the count of products."""
    products = _with_images(parse_catalogue_csv(csv_path), images_root, Path(csv_path))
    promotions_path = Path(promotions) if promotions is not None else sibling_promotions(csv_path)
    promos = parse_promotions_csv(promotions_path, products) if promotions_path is not None else []
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM products")
            conn.executemany(
                "INSERT INTO products (code, code_type, name, grp, category, sold_by, price_cents, unit_weight_g, "
                "unit_weight_sd_g, net_content, zone, gsd_class_id, gsd_class, image) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(p.code, p.code_type, p.name, p.group, p.category, p.sold_by, p.price_cents, p.unit_weight_g,
                  p.unit_weight_sd_g, p.net_content, p.zone, p.gsd_class_id, p.gsd_class, p.image) for p in products])
            conn.execute("DELETE FROM promotions")
            conn.executemany("INSERT INTO promotions (id, code, kind, value, qty, starts_at, ends_at, label) "
                             "VALUES (?,?,?,?,?,?,?,?)",
                             [(p.id, p.code, p.kind, p.value, p.qty, p.starts_at, p.ends_at, p.label) for p in promos])
            conn.execute("INSERT OR REPLACE INTO catalogue_meta VALUES ('source', ?)", (str(csv_path),))
            conn.execute("INSERT OR REPLACE INTO catalogue_meta VALUES ('fingerprint', ?)", (_fingerprint(products),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise Misconfigured(f"{db_path}: cannot write the catalogue: {exc}") from None
    finally:
        conn.close()
    return len(products)


def load_catalogue(path: str | Path, promotions: str | Path | None = None) -> Catalogue:
    """A catalogue from a CSV (checked; with ``promotions`` or the ``promotions.csv`` beside it) or
    an imported SQLite database (with the promotions imported with it), by the file's suffix."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return Catalogue.from_csv(path, promotions=promotions)
    return Catalogue.open(path)
