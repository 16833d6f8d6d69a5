"""The open feeds (docs/METRICS.md section 8): availability per zone as ParkAPI v3 JSON and as a
DATEX II v3 parking status publication, for systems that read them without our code.

Both take the availability answer by zone at ``at`` and the catalog in force.
The uncatalogued (null) group is no zone and is not published. A zone none of
whose bays is known has no free count: ParkAPI's ``realtime_free_capacity`` and
DATEX II's vacant spaces are then absent, never 0. What neither the answer
nor the catalog says (operator, type, country, publisher) the deployment sets
in :class:`FeedSettings`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from parking.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

    from parking.analytics.catalog import CatalogRow

PARKAPI_TYPES = ("CAR_PARK", "UNDERGROUND", "OFF_STREET_PARKING_GROUND", "ON_STREET")
D2 = "http://datex2.eu/schema/3/d2Payload"
COM = "http://datex2.eu/schema/3/common"
PRK = "http://datex2.eu/schema/3/parking"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
for _prefix, _uri in (("d2", D2), ("com", COM), ("prk", PRK), ("xsi", XSI)):
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class FeedSettings:
    """What a deployment says about its sites that the catalog does not (``PARKING_FEED_*``)."""

    operator_name: str = "Parking operator"
    site_type: str = "CAR_PARK"  # ParkAPI's type of every zone's site
    country: str = "de"  # DATEX II publicationCreator: ISO 3166-1 alpha-2, lower case
    publisher: str = "parking-platform"  # DATEX II publicationCreator's national identifier
    language: str = "en"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedSettings:
        """The settings from PARKING_FEED_OPERATOR, _TYPE, _COUNTRY, _PUBLISHER, _LANGUAGE; defaults otherwise."""
        env = os.environ if env is None else env
        names = {"operator_name": "PARKING_FEED_OPERATOR", "site_type": "PARKING_FEED_TYPE",
                 "country": "PARKING_FEED_COUNTRY", "publisher": "PARKING_FEED_PUBLISHER",
                 "language": "PARKING_FEED_LANGUAGE"}
        settings = cls(**{key: env[name].strip() for key, name in names.items() if env.get(name, "").strip()})
        if settings.site_type not in PARKAPI_TYPES:
            raise ConfigurationError(f"PARKING_FEED_TYPE={settings.site_type!r} is not one of {', '.join(PARKAPI_TYPES)}")
        if len(settings.country) != 2 or not settings.country.isascii() or not settings.country.isalpha():
            raise ConfigurationError(f"PARKING_FEED_COUNTRY={settings.country!r} is not a two-letter country code")
        return replace(settings, country=settings.country.lower())


def zone_positions(rows: Iterable[CatalogRow]) -> dict[str, tuple[float, float]]:
    """Each zone's position: the mean of its bays' ``lat``/``lon`` (zones without any have none)."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        if row.lat is not None and row.lon is not None:
            total = sums.setdefault(row.zone, [0.0, 0.0, 0.0])
            total[0] += row.lat
            total[1] += row.lon
            total[2] += 1
    return {zone: (lat / n, lon / n) for zone, (lat, lon, n) in sums.items()}


def zone_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The availability rows of catalogued zones, as plain values, in zone order."""
    import pandas as pd

    rows = []
    for record in frame.to_dict("records"):
        zone, rate = record["zone"], record["occupancy_rate"]
        if pd.isna(zone):
            continue
        rows.append({"zone": str(zone), "capacity": int(record["capacity"]), "free": int(record["free"]),
                     "occupied": int(record["occupied"]), "unknown": int(record["unknown"]),
                     "occupancy_rate": None if pd.isna(rate) else float(rate)})
    return sorted(rows, key=lambda row: row["zone"])


def iso(instant: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``, as the CLI's JSON spells instants."""
    return instant.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parkapi(at: datetime, availability: pd.DataFrame, catalog: Iterable[CatalogRow],
            catalog_loaded_at: datetime | None, settings: FeedSettings) -> dict[str, Any]:
    """A ParkAPI v3 parking-site list (``{"items": [...]}``): one site per zone with a position.

    ParkAPI requires a position; a zone none of whose bays has ``lat``/``lon``
    is left out (docs/CHOICES.md).
    """
    positions = zone_positions(catalog)
    updated = iso(at)
    static = iso(catalog_loaded_at or at)
    items = []
    for row in zone_rows(availability):
        if row["zone"] not in positions:
            continue
        lat, lon = positions[row["zone"]]
        known = row["capacity"] - row["unknown"]
        item: dict[str, Any] = {
            "uid": row["zone"],
            "name": row["zone"],
            "operator_name": settings.operator_name,
            "purpose": "CAR",
            "type": settings.site_type,
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "capacity": row["capacity"],
            "has_realtime_data": True,
            "static_data_updated_at": static,
            "realtime_data_updated_at": updated,
            "realtime_opening_status": "OPEN",
            "realtime_capacity": known,
        }
        if row["occupied"] + row["free"] > 0:
            item["realtime_free_capacity"] = row["free"]
        items.append(item)
    return {"items": items}


def datex2(at: datetime, availability: pd.DataFrame, settings: FeedSettings) -> bytes:
    """A DATEX II v3 parking status publication: one parking record status per zone, as UTF-8 XML."""
    when = iso(at)
    root = ET.Element(f"{{{D2}}}payload", {
        f"{{{XSI}}}type": "prk:ParkingStatusPublication", "lang": settings.language, "modelBaseVersion": "3"})
    ET.SubElement(root, f"{{{COM}}}publicationTime").text = when
    creator = ET.SubElement(root, f"{{{COM}}}publicationCreator")
    ET.SubElement(creator, f"{{{COM}}}country").text = settings.country
    ET.SubElement(creator, f"{{{COM}}}nationalIdentifier").text = settings.publisher
    header = ET.SubElement(root, f"{{{PRK}}}headerInformation")
    ET.SubElement(header, f"{{{COM}}}confidentiality").text = "noRestriction"
    ET.SubElement(header, f"{{{COM}}}informationStatus").text = "real"
    ET.SubElement(root, f"{{{PRK}}}parkingTableReference",
                  {"targetClass": "prk:ParkingTable", "id": f"{settings.publisher}-zones", "version": "1"})
    for row in zone_rows(availability):
        status = ET.SubElement(root, f"{{{PRK}}}parkingRecordStatus", {f"{{{XSI}}}type": "prk:ParkingSiteStatus"})
        ET.SubElement(status, f"{{{PRK}}}parkingRecordReference",
                      {"targetClass": "prk:ParkingSite", "id": row["zone"], "version": "1"})
        ET.SubElement(status, f"{{{PRK}}}parkingStatusOriginTime").text = when
        occupancy = ET.SubElement(status, f"{{{PRK}}}parkingOccupancy")
        if row["occupied"] + row["free"] > 0:
            ET.SubElement(occupancy, f"{{{PRK}}}parkingNumberOfVacantSpaces").text = str(row["free"])
        if row["occupancy_rate"] is not None:
            ET.SubElement(occupancy, f"{{{PRK}}}parkingOccupancy").text = f"{row['occupancy_rate'] * 100:.6g}"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
