"""The spot catalog: where each spot is and what it is (docs/METRICS.md section 7).

A catalog is loaded from a CSV file, validated whole, and stored normalised
as one object: ``parking-catalog/spots.csv`` under the local data directory,
or beside the data in the bucket. The stored file always has the columns of
:data:`COLUMNS` in that order (Glue reads CSV columns by position), every
cell quoted, ``"`` and ``\\`` escaped with ``\\`` (OpenCSVSerde's and DuckDB's
escape), so the local engine and Athena read the same rows. A new load
replaces the object in one step (a rename on disk, one PutObject on S3); a
rejected file leaves the catalog in force untouched.

The positions (``lat``/``lon``, ``x``/``y``) came later: a file stored before
them has only the first five columns (:data:`LEGACY_COLUMNS`) and still
loads and reads, its positions empty; Athena reads its missing trailing
columns as null, the local view as ``""``, and no SQL reads them.

Only the query side uses it; the ingest Lambda never does.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from parking.analytics.registry import GROUPINGS as GROUPINGS  # re-exported: the columns --by groups by
from parking.errors import ConfigurationError, InvalidArgument, QueryError
from parking.spot_ids import has_control, length_problem
from parking.text import DECIMAL, DIGITS

LEGACY_COLUMNS = ("spot_id", "zone", "level", "bay_type", "max_stay_minutes")  # a file stored before positions
POSITION_COLUMNS = ("lat", "lon", "x", "y")
COLUMNS = (*LEGACY_COLUMNS, *POSITION_COLUMNS)
REQUIRED = ("spot_id", "zone")
CATALOG_PREFIX = "parking-catalog/"
CATALOG_KEY = f"{CATALOG_PREFIX}spots.csv"
CATALOG_TABLE = "spot_catalog"  # the name the SQL files use, in DuckDB and in the Glue database
DEFAULT_BAY_TYPE = "standard"
MAX_ZONE = 64
MAX_STAY_LIMIT = 10**9  # minutes; far beyond any stay a 7-day window can see, and fits every integer type
_BAY_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]*")


class InvalidCatalog(InvalidArgument):
    """A catalog file breaks section 7's rules; the message names the line."""


class DamagedCatalog(QueryError):
    """The stored catalog is not the file ``spots load`` wrote (changed by hand, cut short).

    The message names the file and says how to fix it: load the catalog again.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"the stored spot catalog {where} is damaged ({reason}); "
                         "load the catalog again with `parking-cli spots load FILE.csv`")


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One spot of the catalog; ``level`` is ``""`` when it does not apply, a position None when unknown."""

    spot_id: str
    zone: str
    level: str = ""
    bay_type: str = DEFAULT_BAY_TYPE
    max_stay_minutes: int | None = None
    lat: float | None = None
    lon: float | None = None
    x: float | None = None
    y: float | None = None


def parse(data: bytes | str, *, stored: bool = False) -> list[CatalogRow]:
    """Validate a catalog CSV (UTF-8, optional BOM) and return its rows in file order.

    A file to load is ordinary CSV (quotes doubled); ``stored=True`` reads the
    normalised file :func:`to_csv` writes (backslash escapes). Raises
    :class:`InvalidCatalog` naming the first bad line (1 is the header).
    """
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    dialect: dict[str, Any] = {"doublequote": False, "escapechar": "\\"} if stored else {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, **dialect)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidCatalog("line 1: the file is empty; its header must name spot_id and zone")
        columns = _columns(header)
        rows: list[CatalogRow] = []
        seen: dict[str, int] = {}
        line_end = reader.line_num
        for cells in reader:
            line, line_end = line_end + 1, reader.line_num  # a record's first line (a quoted cell may span lines)
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) > len(header):
                raise InvalidCatalog(f"line {line}: {len(cells)} cells, but the header names {len(header)} columns")
            values = {name: cells[index].strip() if index < len(cells) else "" for name, index in columns.items()}
            row = _row(values, line)
            if row.spot_id in seen:
                raise InvalidCatalog(f"line {line}: spot_id {row.spot_id!r} repeats line {seen[row.spot_id]}")
            seen[row.spot_id] = line
            rows.append(row)
    except csv.Error as exc:
        raise InvalidCatalog(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


def to_csv(rows: Iterable[CatalogRow]) -> bytes:
    """The normalised file: fixed column order, every cell quoted, backslash escapes."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, doublequote=False, escapechar="\\", lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = astuple(row)
        writer.writerow([*values[:4], *("" if value is None else repr(value) for value in values[4:])])
    return out.getvalue().encode("utf-8")


class CatalogStore:
    """Where the catalog in force lives: the local data directory or an S3 bucket.

    ``client`` is an S3 client (required with ``bucket``).
    """

    def __init__(self, data_dir: Path | str | None = None, *, bucket: str | None = None, client: Any = None) -> None:
        if (data_dir is None) == (bucket is None):
            raise ConfigurationError("a catalog lives in one place: a data directory or a bucket")
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.bucket = bucket
        self.client = client

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{CATALOG_KEY}" if self.bucket else str(self.path)

    @property
    def path(self) -> Path:
        if self.data_dir is None:
            raise ConfigurationError("an S3 catalog has no local path")
        return self.data_dir / CATALOG_KEY

    def replace(self, rows: Iterable[CatalogRow]) -> None:
        """Make ``rows`` the catalog in force, in one step; :class:`SinkWriteError` on failure."""
        body = to_csv(rows)
        if self.bucket:
            from parking.errors import SinkWriteError

            try:
                self.client.put_object(Bucket=self.bucket, Key=CATALOG_KEY, Body=body, ContentType="text/csv")
            except Exception as exc:  # botocore's errors: one line for the CLI
                raise SinkWriteError(f"catalog not written to {self.where}: {exc}") from exc
            return
        _replace_file(self.path, body)

    def loaded_at(self) -> datetime | None:
        """When the catalog in force was loaded (the stored object's time), or None when none was."""
        if self.bucket:
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=CATALOG_KEY)
            except Exception:  # botocore's ClientError for a missing key (a 404 has no NoSuchKey code)
                return None
            return head["LastModified"].astimezone(timezone.utc)
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc)
        except OSError:
            return None

    def read(self) -> list[CatalogRow] | None:
        """The catalog in force, or None when none was ever loaded."""
        if self.bucket:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=CATALOG_KEY)["Body"].read()
            except self.client.exceptions.NoSuchKey:
                return None
        else:
            if not self.path.is_file():
                return None
            body = self.path.read_bytes()
        reason = _stored_damage(body)
        if reason is not None:
            raise DamagedCatalog(self.where, reason)
        try:
            return parse(body, stored=True)
        except InvalidCatalog as exc:
            raise DamagedCatalog(self.where, str(exc)) from None


def load_file(path: Path | str, store: CatalogStore) -> list[CatalogRow]:
    """Validate the CSV at ``path`` and make it the catalog in force; returns its rows."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
    rows = parse(data)
    store.replace(rows)
    return rows


def check_zones(zones: Iterable[str], rows: list[CatalogRow] | None, shown: int = 10) -> None:
    """Refuse a ``--zone`` name (trimmed like a catalog cell) that no row of the catalog in force has.

    Raises :class:`InvalidArgument` naming the first unknown zone and up to
    ``shown`` known ones, or saying no catalog is loaded: a typo must not look
    like an empty garage (section 7; ``--zone`` keeps only catalogued spots).
    """
    known = sorted({row.zone for row in rows or ()})
    for name in zones:
        if name.strip() in known:
            continue
        if rows is None:
            raise InvalidArgument(f"zone {name.strip()!r} is not in the spot catalog: no catalog is loaded "
                                  "(parking-cli spots load FILE)")
        listed = ", ".join(known[:shown]) + (f", ... ({len(known):,} zones)" if len(known) > shown else "")
        raise InvalidArgument(f"zone {name.strip()!r} is not in the spot catalog (known: {listed or 'none'})")


def check_zones_in_force(zones: Iterable[str], data_dir: Path) -> None:
    """Refuse a zone name that is badly formed, or that the catalog in force under ``data_dir`` does not have.

    The local catalog is one small file, so a typo is refused before any
    query runs rather than answered as an empty garage (:func:`check_zones`).
    """
    from parking.analytics.availability import grouping_params

    grouping_params(None, zones)  # each name well formed first
    check_zones(zones, CatalogStore(data_dir).read())


def duckdb_view_body(data_dir: Path) -> str:
    """The body of the local engine's ``spot_catalog`` view: the stored file, or no rows.

    Every column is text and an empty cell stays ``""`` (as OpenCSVSerde reads
    it on Athena); the SQL turns ``max_stay_minutes`` into a number.
    """
    path = Path(data_dir) / CATALOG_KEY
    if not path.is_file():
        return "SELECT " + ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in COLUMNS) + " WHERE false"
    check_stored_file(path)
    from parking.layout import glob_escape  # DuckDB reads a path as a pattern
    from parking.sql_text import string_literal

    literal = string_literal(glob_escape(str(path.resolve())))
    stored = stored_columns(path)
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in stored)
    padding = "".join(f", '' AS {c}" for c in COLUMNS if c not in stored)  # a file stored before positions
    return (
        f"SELECT *{padding} FROM read_csv({literal}, header = true, delim = ',', quote = '\"', escape = '\\', "
        f"columns = {{{types}}}, force_not_null = [{', '.join(repr(c) for c in stored)}], auto_detect = false)"
    )


def stored_columns(path: Path) -> tuple[str, ...]:
    """The columns of a stored file: :data:`COLUMNS`, or :data:`LEGACY_COLUMNS` for one stored before positions."""
    with open(path, "rb") as handle:
        first = handle.readline().rstrip(b"\n").decode("utf-8", "replace")
    return LEGACY_COLUMNS if first == _LEGACY_HEADER else COLUMNS


_STORED_HEADER = ",".join(f'"{c}"' for c in COLUMNS)
_LEGACY_HEADER = ",".join(f'"{c}"' for c in LEGACY_COLUMNS)


def check_stored_file(path: Path) -> None:
    """Raise :class:`DamagedCatalog` naming ``path`` unless the engines can read it as :func:`to_csv` wrote it.

    A structural check, about 80 ms per 100,000 spots (the full :func:`parse`
    takes ten times that): UTF-8, the stored header, five cells a row, and a
    ``max_stay_minutes`` the SQL can cast (positions are not read by SQL). Remembered per file version, so the
    views a process creates again for each query check it once.
    """
    try:
        info = path.stat()
        version = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
        if version in _CHECKED:
            return
        body = path.read_bytes()
    except OSError as exc:
        raise DamagedCatalog(str(path), f"cannot read it: {exc.strerror or exc}") from None
    reason = _stored_damage(body)
    if reason is not None:
        raise DamagedCatalog(str(path), reason)
    _CHECKED.add(version)


_CHECKED: set[tuple[str, int, int, int]] = set()


def _stored_damage(body: bytes) -> str | None:
    """Why ``body`` is not a stored catalog the engines can read, or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        return f"line {line}: not UTF-8 text"
    header = text.split("\n", 1)[0]
    if header not in (_STORED_HEADER, _LEGACY_HEADER):
        return f"line 1: the header is not {_STORED_HEADER}"
    width = len(COLUMNS) if header == _STORED_HEADER else len(LEGACY_COLUMNS)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, doublequote=False, escapechar="\\")
    try:
        next(reader)  # the header, checked above
        for cells in reader:
            if len(cells) != width:
                return f"line {reader.line_num}: {len(cells)} cells, not {width}"
            stay = cells[4]
            if stay and (not stay.isdigit() or not stay.isascii() or len(stay) > 10):
                return f"line {reader.line_num}: max_stay_minutes {stay[:20]!r} is not a number"
    except csv.Error as exc:
        return f"line {reader.line_num}: not valid CSV ({exc})"
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidCatalog(f"line {line}: not UTF-8 text") from None


def _columns(header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise InvalidCatalog(f"line 1: the header must name spot_id and zone (missing: {', '.join(missing)})")
    wanted = {}
    for index, name in enumerate(names):
        if name in COLUMNS:
            if name in wanted:
                raise InvalidCatalog(f"line 1: column {name} appears twice")
            wanted[name] = index
    return wanted


def _row(values: dict[str, str], line: int) -> CatalogRow:
    spot_id, zone = values["spot_id"], values["zone"]
    if (problem := length_problem(spot_id)) is not None:
        raise InvalidCatalog(f"line {line}: {problem}")
    if not 1 <= len(zone) <= MAX_ZONE:
        raise InvalidCatalog(f"line {line}: zone must be 1-{MAX_ZONE} characters, got {len(zone)}")
    for name in ("spot_id", "zone", "level"):
        if has_control(values.get(name, "")):
            raise InvalidCatalog(f"line {line}: {name} holds a control character")
    bay_type = values.get("bay_type", "").lower() or DEFAULT_BAY_TYPE
    if not _BAY_TYPE.fullmatch(bay_type):
        raise InvalidCatalog(f"line {line}: bay_type must be one word (letters, digits, - or _), got {bay_type!r}")
    lat, lon = _pair(values, "lat", "lon", line)
    x, y = _pair(values, "x", "y", line)
    if lat is not None and not -90 <= lat <= 90:
        raise InvalidCatalog(f"line {line}: lat must be from -90 to 90 degrees, got {values['lat']!r}")
    if lon is not None and not -180 <= lon <= 180:
        raise InvalidCatalog(f"line {line}: lon must be from -180 to 180 degrees, got {values['lon']!r}")
    return CatalogRow(spot_id, zone, values.get("level", ""), bay_type,
                      _max_stay(values.get("max_stay_minutes", ""), line), lat, lon, x, y)


def _pair(values: dict[str, str], first: str, second: str, line: int) -> tuple[float | None, float | None]:
    """A position's two halves (section 7): both empty, or both finite numbers."""
    texts = values.get(first, ""), values.get(second, "")
    if not any(texts):
        return None, None
    if not all(texts):
        missing = first if not texts[0] else second
        raise InvalidCatalog(f"line {line}: {first} and {second} go together, but {missing} is empty")
    numbers = []
    for name, text in zip((first, second), texts, strict=True):
        try:
            number = float(text) if DECIMAL.fullmatch(text) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidCatalog(f"line {line}: {name} must be a finite decimal number, got {text[:40]!r}")
        numbers.append(number)
    return numbers[0], numbers[1]


def _max_stay(text: str, line: int) -> int | None:
    if not text:
        return None
    if not DIGITS.fullmatch(text) or not 0 < int(text) <= MAX_STAY_LIMIT:
        raise InvalidCatalog(
            f"line {line}: max_stay_minutes must be a whole number of minutes from 1 to {MAX_STAY_LIMIT:,}, "
            f"or empty; got {text!r}"
        )
    return int(text)


def rows_of(rows: Iterable[CatalogRow]) -> Iterator[dict[str, Any]]:
    """Each row as a dict of the stored columns."""
    for row in rows:
        yield dict(zip(COLUMNS, astuple(row), strict=True))


def _replace_file(path: Path, body: bytes) -> None:
    """Write ``path`` whole or not at all: a flushed temporary file renamed over it.

    Not the ingest sinks, which never replace an object (docs/CHOICES.md): the
    catalog is the one file a newer version must replace.
    """
    from parking.atomic_file import place_written, write_fully
    from parking.errors import SinkWriteError

    try:
        place_written(str(path), lambda fd: write_fully(fd, body))
    except OSError as exc:
        raise SinkWriteError(f"catalog not written to {path}: {exc.strerror or exc}") from exc
