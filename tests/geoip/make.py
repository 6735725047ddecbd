#!/usr/bin/env python3
"""Writes the two small GeoLite2-style databases beside this script with MaxMind's format as
another writer produces it: PyPI `mmdb-writer` (with `netaddr`), the writer stack-notes name.

The tests mostly write their databases with prparser's own test writer
(tests/support/mmdb.rs); these two files check that the reader also reads a file that writer
did not make. Regenerate with `pip install mmdb-writer netaddr && python3 tests/geoip/make.py`;
the tests assert the records listed here, so change both together.
"""

from pathlib import Path

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet

HERE = Path(__file__).resolve().parent


def country(iso, name):
    code = {"iso_code": iso, "names": {"en": name}, "geoname_id": MmdbU32(1)}
    return {"country": code, "registered_country": code, "continent": {"code": "EU"}}


def main():
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country",
                   languages=["en"], description={"en": "prparser test: GeoLite2-Country layout"})
    w.insert_network(IPSet(["203.0.113.0/24"]), country("DE", "Germany"))
    w.insert_network(IPSet(["198.51.100.0/24"]), country("US", "United States"))
    w.insert_network(IPSet(["2001:db8::/32"]), country("FR", "France"))
    w.to_db_file(str(HERE / "python-country.mmdb"))

    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                   languages=["en"], description={"en": "prparser test: GeoLite2-ASN layout"})
    w.insert_network(IPSet(["203.0.113.0/24"]),
                     {"autonomous_system_number": MmdbU32(64500),
                      "autonomous_system_organization": "Example Net"})
    w.insert_network(IPSet(["2001:db8::/32"]),
                     {"autonomous_system_number": MmdbU32(13335),
                      "autonomous_system_organization": "CLOUDFLARENET"})
    w.to_db_file(str(HERE / "python-asn.mmdb"))


if __name__ == "__main__":
    main()
