//! A MaxMind DB writer for tests and benchmarks: small databases in the layouts of GeoLite2,
//! DB-IP lite and IPinfo, written by the test that reads them (no download, no network).
//!
//! It writes what the MaxMind DB format 2.0 specification describes and nothing more: an IPv6
//! search tree with 32-bit records (IPv4 networks at `::a.b.c.d/96+n`, as MaxMind's own
//! databases hold them), a data section of maps, strings, unsigned integers and booleans, and
//! the metadata. Each record is written once per network; no pointers, no deduplication.
//! MaxMind's Python reader (`maxminddb` 3.2) reads its files as written; `tests/geoip/` holds
//! two files from another writer (PyPI `mmdb-writer`), so the reader is not only checked
//! against what this writer writes.
//!
//! Used from the unit tests (`src/analysis/geoip/tests.rs`), the integration tests and the
//! benchmarks, through `#[path]`.

use std::net::IpAddr;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    U32(u32),
    U64(u64),
    Bool(bool),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

/// `Value::Str`.
pub fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

/// `Value::Map` from pairs.
pub fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A GeoLite2 Country (or City) record: the country, the registered country and the
/// continent, with names, as MaxMind writes them.
pub fn geolite2_country(iso: &str) -> Value {
    let country = || {
        map(vec![
            ("geoname_id", Value::U32(2_921_044)),
            ("iso_code", s(iso)),
            ("names", map(vec![("en", s(&format!("Country {iso}"))), ("de", s(&format!("Land {iso}")))])),
        ])
    };
    map(vec![
        ("continent", map(vec![("code", s("EU")), ("geoname_id", Value::U32(6_255_148))])),
        ("country", country()),
        ("registered_country", country()),
    ])
}

/// A GeoLite2 (and DB-IP lite) ASN record.
pub fn geolite2_asn(asn: u32, organization: &str) -> Value {
    map(vec![("autonomous_system_number", Value::U32(asn)), ("autonomous_system_organization", s(organization))])
}

/// A DB-IP lite country (or city) record: GeoLite2's shape, with `is_in_european_union`.
pub fn dbip_country(iso: &str) -> Value {
    map(vec![
        ("continent", map(vec![("code", s("EU")), ("names", map(vec![("en", s("Europe"))]))])),
        (
            "country",
            map(vec![
                ("is_in_european_union", Value::Bool(iso == "DE" || iso == "FR")),
                ("iso_code", s(iso)),
                ("names", map(vec![("en", s(&format!("Country {iso}")))])),
            ]),
        ),
    ])
}

/// An IPinfo free database record (`country_asn.mmdb`): flat, the country as its code, the
/// ASN as text.
pub fn ipinfo_country_asn(iso: &str, asn: u32, organization: &str) -> Value {
    map(vec![
        ("as_domain", s("example.net")),
        ("as_name", s(organization)),
        ("asn", s(&format!("AS{asn}"))),
        ("continent", s("EU")),
        ("continent_name", s("Europe")),
        ("country", s(iso)),
        ("country_name", s(&format!("Country {iso}"))),
    ])
}

/// An IPinfo Lite record: flat, `country` is the name and `country_code` the code.
pub fn ipinfo_lite(iso: &str, asn: u32, organization: &str) -> Value {
    map(vec![
        ("as_domain", s("example.net")),
        ("as_name", s(organization)),
        ("asn", s(&format!("AS{asn}"))),
        ("continent", s("Europe")),
        ("continent_code", s("EU")),
        ("country", s(&format!("Country {iso}"))),
        ("country_code", s(iso)),
    ])
}

/// A database: networks (`"192.0.2.0/24"`, `"2001:db8::/32"`) and their records.
pub struct Writer {
    database_type: String,
    networks: Vec<(IpAddr, u8, Value)>,
}

/// A record of the search tree.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rec {
    Empty,
    Node(u32),
    /// Offset in the data section.
    Data(u32),
}

impl Writer {
    pub fn new(database_type: &str) -> Writer {
        Writer { database_type: database_type.to_string(), networks: Vec::new() }
    }

    /// Adds a network (CIDR text); more specific networks may be added after less specific
    /// ones that hold them.
    pub fn insert(&mut self, network: &str, record: Value) -> &mut Writer {
        let (addr, len) = network.split_once('/').expect("a CIDR network");
        let addr: IpAddr = addr.parse().expect("a network address");
        let len: u8 = len.parse().expect("a prefix length");
        self.networks.push((addr, len, record));
        self
    }

    /// The database's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut tree: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
        for (addr, len, record) in &self.networks {
            let offset = data.len() as u32;
            encode(record, &mut data);
            let (bits, len) = match addr {
                IpAddr::V4(v4) => (u128::from(u32::from(*v4)), *len + 96),
                IpAddr::V6(v6) => (u128::from(*v6), *len),
            };
            insert(&mut tree, bits, len, offset);
        }
        let node_count = tree.len() as u32;
        let mut out = Vec::with_capacity(tree.len() * 8 + 16 + data.len() + 200);
        for node in &tree {
            for rec in node {
                let value = match *rec {
                    Rec::Empty => node_count,
                    Rec::Node(n) => n,
                    Rec::Data(offset) => node_count + 16 + offset,
                };
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        let metadata = Value::Map(vec![
            ("binary_format_major_version".into(), Value::U32(2)),
            ("binary_format_minor_version".into(), Value::U32(0)),
            ("build_epoch".into(), Value::U64(1_767_225_600)),
            ("database_type".into(), s(&self.database_type)),
            ("description".into(), map(vec![("en", s("prparser test database"))])),
            ("ip_version".into(), Value::U32(6)),
            ("languages".into(), Value::Array(vec![s("en")])),
            ("node_count".into(), Value::U32(node_count)),
            ("record_size".into(), Value::U32(32)),
        ]);
        encode_metadata(&metadata, &mut out);
        out
    }

    /// Writes the database to `path`.
    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, self.to_bytes()).expect("write the test database");
    }
}

/// Puts `offset` at the network of the first `len` bits of `bits` (from the top).
fn insert(tree: &mut Vec<[Rec; 2]>, bits: u128, len: u8, offset: u32) {
    let mut node = 0usize;
    for depth in 0..len {
        let side = ((bits >> (127 - depth)) & 1) as usize;
        if depth + 1 == len {
            tree[node][side] = Rec::Data(offset);
            return;
        }
        node = match tree[node][side] {
            Rec::Node(n) => n as usize,
            // A less specific network (or none) here: split it into a node holding it twice.
            other => {
                tree.push([other; 2]);
                let n = tree.len() - 1;
                tree[node][side] = Rec::Node(n as u32);
                n
            }
        };
    }
}

/// A control byte (and its extension bytes) for a value of `kind` and `size`.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (first, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, Vec::new()),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push((kind << 5) | first);
    } else {
        out.push(first);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn unsigned(kind: u8, value: u64, out: &mut Vec<u8>) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(text) => {
            control(2, text.len(), out);
            out.extend_from_slice(text.as_bytes());
        }
        Value::U32(n) => unsigned(6, u64::from(*n), out),
        Value::U64(n) => unsigned(9, *n, out),
        Value::Bool(b) => control(14, usize::from(*b), out),
        Value::Map(pairs) => {
            control(7, pairs.len(), out);
            for (key, value) in pairs {
                encode(&Value::Str(key.clone()), out);
                encode(value, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            items.iter().for_each(|v| encode(v, out));
        }
    }
}

/// The metadata map: its sizes as the specification types them (`uint16` for the versions,
/// the record size and the IP version).
fn encode_metadata(value: &Value, out: &mut Vec<u8>) {
    let Value::Map(pairs) = value else {
        return encode(value, out);
    };
    control(7, pairs.len(), out);
    for (key, value) in pairs {
        encode(&Value::Str(key.clone()), out);
        match (key.as_str(), value) {
            (
                "binary_format_major_version" | "binary_format_minor_version" | "ip_version" | "record_size",
                Value::U32(n),
            ) => unsigned(5, u64::from(*n), out),
            _ => encode(value, out),
        }
    }
}
