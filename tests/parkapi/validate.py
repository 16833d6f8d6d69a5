"""Validate our feeds with ParkAPI's own models; runs in build/parkapi-venv (Python 3.12, parkapi-sources).

Reads ``{"parkapi": <feed JSON>, "datex2": <feed XML text>}`` on stdin; prints
``{"parkapi": [uid or error per site], "datex2": [[uid, free] or error per status]}``.
"""

import json
import sys

from parkapi_sources.converters.base_converter.datex2_v3.parking_record_status_validator import ParkingRecordStatus
from parkapi_sources.models import CombinedParkingSiteInput
from parkapi_sources.util import XMLHelper
from validataclass.exceptions import ValidationError
from validataclass.validators import DataclassValidator


def main() -> None:
    given = json.load(sys.stdin)
    sites, statuses = [], []
    site_validator = DataclassValidator(CombinedParkingSiteInput)
    for item in given["parkapi"]["items"]:
        try:
            site = site_validator.validate(item)
            sites.append({"uid": site.uid, "free": site.realtime_free_capacity, "lat": float(site.lat)})
        except ValidationError as error:
            sites.append({"error": repr(error.to_dict())})
    helper = XMLHelper()
    data = helper.xml_to_dict(helper.string_to_xml_etree(given["datex2"].encode()),
                              ensure_array_keys=[("payload", "parkingRecordStatus")])
    status_validator = DataclassValidator(ParkingRecordStatus)
    for record in data.get("payload", {}).get("parkingRecordStatus", []):
        try:
            realtime = status_validator.validate(record).to_realtime_parking_site_input()
            statuses.append({"uid": realtime.uid, "free": realtime.realtime_free_capacity,
                             "at": realtime.realtime_data_updated_at.isoformat()})
        except ValidationError as error:
            statuses.append({"uid": record.get("parkingRecordReference", {}).get("id"), "error": repr(error.to_dict())})
    json.dump({"parkapi": sites, "datex2": statuses}, sys.stdout)


if __name__ == "__main__":
    main()
