use super::*;

#[path = "../../../tests/support/mmdb.rs"]
#[allow(dead_code)]
mod mmdb;

use mmdb::{Writer, dbip_country, geolite2_asn, geolite2_country, ipinfo_country_asn, ipinfo_lite};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

fn place(country: Option<&str>, network: Option<(u32, &str)>) -> Place {
    Place {
        country: country.and_then(Country::parse),
        network: network.map(|(number, name)| Network { number, organization: Arc::from(name) }),
    }
}

/// Writes `writer` to a file in `dir` and returns its path.
fn written(dir: &tempfile::TempDir, name: &str, writer: &Writer) -> PathBuf {
    let path = dir.path().join(name);
    writer.write(&path);
    path
}

fn geolite2_pair(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let mut country = Writer::new("GeoLite2-Country");
    country
        .insert("203.0.113.0/24", geolite2_country("DE"))
        .insert("198.51.100.0/24", geolite2_country("US"))
        .insert("2001:db8::/32", geolite2_country("FR"));
    let mut asn = Writer::new("GeoLite2-ASN");
    asn.insert("203.0.113.0/24", geolite2_asn(64500, "Example Net"))
        .insert("198.51.100.0/25", geolite2_asn(13335, "CLOUDFLARENET"))
        .insert("2001:db8::/32", geolite2_asn(64501, "Doc Six"));
    (written(dir, "GeoLite2-Country.mmdb", &country), written(dir, "GeoLite2-ASN.mmdb", &asn))
}

#[test]
fn geolite2_country_and_asn_databases_place_v4_v6_and_mapped_addresses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (country, asn) = geolite2_pair(&dir);
    let geo = GeoIp::open(Some(&country), Some(&asn)).expect("both open");
    assert_eq!(geo.locate(ip("203.0.113.7")), place(Some("DE"), Some((64500, "Example Net"))));
    assert_eq!(geo.locate(ip("198.51.100.1")), place(Some("US"), Some((13335, "CLOUDFLARENET"))));
    assert_eq!(geo.locate(ip("198.51.100.200")), place(Some("US"), None), "the ASN file has the lower half only");
    assert_eq!(geo.locate(ip("2001:db8::1")), place(Some("FR"), Some((64501, "Doc Six"))));
    assert_eq!(geo.locate(ip("::ffff:203.0.113.9")), place(Some("DE"), Some((64500, "Example Net"))));
    assert_eq!(geo.locate(ip("192.0.2.1")), Place::default(), "unknown to both");
    assert_eq!(geo.country_database().map(|d| d.kind().to_string()), Some("GeoLite2-Country".into()));
    assert_eq!(
        geo.network_database().map(|d| d.summary()),
        Some("GeoLite2-ASN.mmdb (GeoLite2-ASN, built 2026-01-01)".into())
    );
}

#[test]
fn each_address_is_looked_up_once_and_the_ui_only_reads_what_is_known() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (country, asn) = geolite2_pair(&dir);
    let geo = GeoIp::open(Some(&country), Some(&asn)).expect("both open");
    assert_eq!(geo.known(ip("203.0.113.7")), None, "never asked");
    let ips = [ip("203.0.113.7"), ip("203.0.113.8"), ip("::ffff:203.0.113.7"), ip("192.0.2.1")];
    assert_eq!(geo.locate_all(&ips), 3, "the mapped address is the first one");
    assert_eq!(geo.len(), 3);
    assert_eq!(geo.locate_all(&ips), 0, "all known now");
    assert_eq!(geo.known(ip("203.0.113.8")), Some(place(Some("DE"), Some((64500, "Example Net")))));
    assert_eq!(geo.known(ip("192.0.2.1")), Some(Place::default()), "known to be unknown");
    let a = geo.locate(ip("203.0.113.7")).network.expect("a network");
    let b = geo.locate(ip("203.0.113.8")).network.expect("a network");
    assert!(Arc::ptr_eq(&a.organization, &b.organization), "one name shared");
}

#[test]
fn dbip_lite_reads_as_geolite2_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut country = Writer::new("DBIP-Country-Lite");
    country.insert("203.0.113.0/24", dbip_country("DE")).insert("2001:db8::/32", dbip_country("JP"));
    let mut asn = Writer::new("DBIP-ASN-Lite (compat=GeoLite2-ASN)");
    asn.insert("203.0.113.0/24", geolite2_asn(3320, "Deutsche Telekom AG"));
    let country = written(&dir, "dbip-country-lite.mmdb", &country);
    let asn = written(&dir, "dbip-asn-lite.mmdb", &asn);
    let geo = GeoIp::open(Some(&country), Some(&asn)).expect("both open");
    assert_eq!(geo.locate(ip("203.0.113.1")), place(Some("DE"), Some((3320, "Deutsche Telekom AG"))));
    assert_eq!(geo.locate(ip("2001:db8:1::1")), place(Some("JP"), None));
}

#[test]
fn ipinfo_flat_files_fill_both_roles_from_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut free = Writer::new("ipinfo country_asn.mmdb");
    free.insert("203.0.113.0/24", ipinfo_country_asn("NL", 1136, "KPN B.V."))
        .insert("2001:db8::/32", ipinfo_country_asn("SE", 3301, "Telia Company AB"));
    let free = written(&dir, "country_asn.mmdb", &free);
    let geo = GeoIp::open(Some(&free), Some(&free)).expect("one file, both roles");
    assert!(Arc::ptr_eq(geo.country_database().expect("country"), geo.network_database().expect("network")));
    assert_eq!(geo.locate(ip("203.0.113.1")), place(Some("NL"), Some((1136, "KPN B.V."))));
    assert_eq!(geo.locate(ip("2001:db8::5")), place(Some("SE"), Some((3301, "Telia Company AB"))));

    let mut lite = Writer::new("ipinfo_lite.mmdb");
    lite.insert("198.51.100.0/24", ipinfo_lite("US", 15169, "Google LLC"));
    let lite = written(&dir, "ipinfo_lite.mmdb", &lite);
    let geo = GeoIp::open(Some(&lite), Some(&lite)).expect("one file, both roles");
    assert_eq!(
        geo.locate(ip("198.51.100.3")),
        place(Some("US"), Some((15169, "Google LLC"))),
        "country_code, not the name"
    );
}

#[test]
fn a_database_for_the_wrong_role_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (country, asn) = geolite2_pair(&dir);
    let err = GeoIp::open(Some(&asn), None).expect_err("an ASN file holds no countries");
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds no country codes (country.iso_code, country or country_code) (its type is \"GeoLite2-ASN\"): give a database that does",
            asn.display()
        )
    );
    let err = GeoIp::open(None, Some(&country)).expect_err("a country file holds no AS numbers");
    assert!(matches!(err, GeoIpError::Lacks { role: Role::Network, .. }), "{err}");
}

#[test]
fn truncated_garbage_empty_and_special_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (country, _) = geolite2_pair(&dir);
    let whole = std::fs::read(&country).expect("read");
    let invalid = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = GeoIp::open(Some(&path), None).expect_err(name);
        assert!(matches!(err, GeoIpError::Invalid { .. }), "{name}: {err}");
        assert!(err.to_string().starts_with(&format!("{} is not a usable MaxMind database: ", path.display())));
    };
    invalid("truncated-tail.mmdb", &whole[..whole.len() - 40]);
    invalid("truncated-half.mmdb", &whole[..whole.len() / 2]);
    invalid("empty.mmdb", b"");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    invalid("garbage.mmdb", &garbage);
    // The metadata of a real file after a tree that points past the data.
    let mut lying = vec![0xffu8; 64];
    lying.extend_from_slice(&whole[whole.len() - 300..]);
    invalid("lying.mmdb", &lying);
    // Every cut of the file: none may panic, each is refused or reads as the file it is.
    for cut in (0..whole.len()).step_by(7) {
        let path = dir.path().join("cut.mmdb");
        std::fs::write(&path, &whole[..cut]).expect("write");
        if let Ok(geo) = GeoIp::open(Some(&path), None) {
            geo.locate(ip("203.0.113.1"));
        }
    }

    let err = GeoIp::open(Some(dir.path()), None).expect_err("a folder");
    assert_eq!(
        err.to_string(),
        format!("cannot use GeoIP database {}: it is a folder, not a regular file", dir.path().display())
    );
    let fifo = dir.path().join("fifo.mmdb");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let err = GeoIp::open(Some(&fifo), None).expect_err("a FIFO");
    assert!(err.to_string().ends_with("it is a FIFO, not a regular file"), "{err}");
    let err = GeoIp::open(Some(Path::new("/dev/zero")), None).expect_err("a device");
    assert!(err.to_string().ends_with("it is a device, not a regular file"), "{err}");
    let missing = dir.path().join("missing.mmdb");
    let err = GeoIp::open(None, Some(&missing)).expect_err("missing");
    assert!(err.to_string().starts_with(&format!("cannot use GeoIP database {}: ", missing.display())), "{err}");
}

#[test]
fn country_codes_and_as_numbers_read_as_written() {
    assert_eq!(Country::parse(" de ").map(|c| c.to_string()), Some("DE".into()));
    assert_eq!(Country::parse("Germany"), None);
    assert_eq!(Country::parse("D1"), None);
    assert_eq!(Country::parse("ÄÖ"), None);
    assert_eq!(parse_asn("AS13335"), Some(13335));
    assert_eq!(parse_asn("as64512"), Some(64512));
    assert_eq!(parse_asn(" 15169 "), Some(15169));
    assert_eq!(parse_asn("AS"), None);
    assert_eq!(parse_asn("AS-1"), None);
    assert_eq!(parse_asn("AS99999999999"), None, "past u32");
    let n = Network { number: 13335, organization: Arc::from("CLOUDFLARENET") };
    assert_eq!(n.to_string(), "AS13335 CLOUDFLARENET");
    assert_eq!(Network { number: 7, organization: Arc::from("") }.to_string(), "AS7");
}

/// Files written by another writer (`tests/geoip/make.py`, PyPI mmdb-writer).
#[test]
fn files_from_maxminds_python_writer_read_the_same() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/geoip");
    let geo =
        GeoIp::open(Some(&here.join("python-country.mmdb")), Some(&here.join("python-asn.mmdb"))).expect("both open");
    assert_eq!(geo.locate(ip("203.0.113.5")), place(Some("DE"), Some((64500, "Example Net"))));
    assert_eq!(geo.locate(ip("198.51.100.5")), place(Some("US"), None));
    assert_eq!(geo.locate(ip("2001:db8::1")), place(Some("FR"), Some((13335, "CLOUDFLARENET"))));
    assert_eq!(geo.locate(ip("192.0.2.1")), Place::default());
}
