//! Where remote addresses are: their country and their network (autonomous system), from
//! MaxMind-format databases the person has — GeoLite2 Country, City and ASN, DB-IP lite,
//! IPinfo's free databases (see [`record`] for the layouts). Nothing is bundled and nothing is
//! sent anywhere: a lookup is a walk through a file already in memory.
//!
//! Databases are files a person names, so they are read as untrusted input: only a regular
//! file of at most [`MAX_DATABASE_BYTES`] is opened, the `maxminddb` reader checks its
//! metadata and tree, [`Database::open`] then walks the whole file once
//! (`Reader::verify`: every record reachable and well-formed), and a database that holds none
//! of the fields its role needs (an ASN file given for countries) is refused with an error
//! naming the file, rather than answering "unknown" for every address.
//!
//! [`GeoIp`] holds the two roles (country, network; one IPinfo file can fill both) and
//! remembers each address it was asked about, so every distinct address is looked up once
//! however many criteria, statistics and grid cells ask.

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use maxminddb::{Reader, WithinOptions};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::dns::HostNames;
use crate::analysis::named_file::{self, Refused};

mod record;

pub use record::parse_asn;
use record::{AsnRecord, CountryRecord};

/// Databases larger than this are refused: GeoLite2 City, the largest free one, is under
/// 100 MiB, and a database is read whole into memory.
pub const MAX_DATABASE_BYTES: u64 = 1 << 30;

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII letters, any case; anything else is not a code.
    pub fn parse(text: &str) -> Option<Country> {
        match text.trim().as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Two ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An autonomous system: the network an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    pub number: u32,
    /// As the database names it; empty when it names none.
    pub organization: Arc<str>,
}

impl fmt::Display for Network {
    /// `AS13335 CLOUDFLARENET`, as the grid shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.organization.is_empty() {
            write!(f, "AS{}", self.number)
        } else {
            write!(f, "AS{} {}", self.number, self.organization)
        }
    }
}

/// What the databases say of one address; both parts empty when they do not know it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub country: Option<Country>,
    pub network: Option<Network>,
}

/// What a database is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Country,
    Network,
}

impl Role {
    fn fields(self) -> &'static str {
        match self {
            Role::Country => "country codes (country.iso_code, country or country_code)",
            Role::Network => "AS numbers (autonomous_system_number or asn)",
        }
    }
}

/// Why a database cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot use GeoIP database {}: {reason}", path.display())]
    Refused { path: PathBuf, reason: Refused },
    #[error("{} is not a usable MaxMind database: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{} holds no {} (its type is {kind:?}): give a database that does", path.display(), role.fields())]
    Lacks { path: PathBuf, role: Role, kind: String },
}

/// Records sampled to tell whether a database holds what its role needs.
const SAMPLED_RECORDS: usize = 256;

/// One opened database.
pub struct Database {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Database {
    /// Reads and checks the database at `path` for `roles` (see the module's docs).
    pub fn open(path: &Path, roles: &[Role]) -> Result<Database, GeoIpError> {
        let refused = |reason| GeoIpError::Refused { path: path.to_path_buf(), reason };
        let (file, meta) = named_file::open_regular(path, MAX_DATABASE_BYTES).map_err(refused)?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(MAX_DATABASE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| refused(Refused::Io(e)))?;
        if bytes.len() as u64 > MAX_DATABASE_BYTES {
            return Err(refused(Refused::TooLarge(MAX_DATABASE_BYTES)));
        }
        let invalid =
            |e: maxminddb::MaxMindDbError| GeoIpError::Invalid { path: path.to_path_buf(), reason: e.to_string() };
        let reader = Reader::from_source(bytes).map_err(invalid)?;
        reader.verify().map_err(invalid)?;
        let db = Database { path: path.to_path_buf(), reader };
        for &role in roles {
            db.check_holds(role)?;
        }
        Ok(db)
    }

    /// Refuses a database none of whose first records has what `role` reads.
    fn check_holds(&self, role: Role) -> Result<(), GeoIpError> {
        let invalid =
            |e: maxminddb::MaxMindDbError| GeoIpError::Invalid { path: self.path.clone(), reason: e.to_string() };
        let mut found = false;
        for network in self.reader.networks(WithinOptions::default()).map_err(invalid)?.take(SAMPLED_RECORDS) {
            let network = network.map_err(invalid)?;
            found = match role {
                Role::Country => network.decode::<CountryRecord>().ok().flatten().and_then(|r| r.country()).is_some(),
                Role::Network => {
                    network.decode::<AsnRecord<'_>>().ok().flatten().and_then(|r| r.network().map(|_| ())).is_some()
                }
            };
            if found {
                break;
            }
        }
        if found {
            Ok(())
        } else {
            Err(GeoIpError::Lacks { path: self.path.clone(), role, kind: self.kind().to_string() })
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's type as it says (`GeoLite2-Country`, `DBIP-ASN-Lite`, ...).
    pub fn kind(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When it was built, as a date (`2026-11-24`).
    pub fn built(&self) -> Option<String> {
        let epoch = i64::try_from(self.reader.metadata().build_epoch).ok()?;
        chrono::DateTime::from_timestamp(epoch, 0).map(|t| t.format("%Y-%m-%d").to_string())
    }

    /// `GeoLite2-Country.mmdb (GeoLite2-Country, built 2026-11-24)`, for the app and stderr.
    pub fn summary(&self) -> String {
        let name =
            self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        match self.built() {
            Some(date) => format!("{name} ({}, built {date})", self.kind()),
            None => format!("{name} ({})", self.kind()),
        }
    }

    fn country(&self, ip: IpAddr) -> Option<Country> {
        let found = self.reader.lookup(ip).ok()?;
        found.decode::<CountryRecord>().ok().flatten()?.country()
    }

    /// The number and organisation of the address's network, the organisation taken from
    /// `names` when an equal one is there (millions of addresses share a few names).
    fn network(&self, ip: IpAddr, names: &RwLock<FxHashSet<Arc<str>>>) -> Option<Network> {
        let found = self.reader.lookup(ip).ok()?;
        let record = found.decode::<AsnRecord<'_>>().ok().flatten()?;
        let (number, name) = record.network()?;
        let known = names.read().ok().and_then(|n| n.get(name).cloned());
        let organization = match known {
            Some(shared) => shared,
            None => {
                let shared: Arc<str> = Arc::from(name);
                if let Ok(mut n) = names.write() {
                    n.insert(Arc::clone(&shared));
                }
                shared
            }
        };
        Some(Network { number, organization })
    }
}

/// Shards of the memo: lookups from every core rarely wait on one another.
const SHARDS: usize = 16;

/// The databases in use, and every address they were asked about.
pub struct GeoIp {
    country: Option<Arc<Database>>,
    network: Option<Arc<Database>>,
    memo: Vec<RwLock<FxHashMap<IpAddr, Place>>>,
    names: RwLock<FxHashSet<Arc<str>>>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp").field("country", &self.country).field("network", &self.network).finish_non_exhaustive()
    }
}

impl GeoIp {
    /// Opens the country database and the network database (either may be left out; the
    /// same file named for both is read once).
    pub fn open(country: Option<&Path>, network: Option<&Path>) -> Result<GeoIp, GeoIpError> {
        let same = country.zip(network).is_some_and(|(a, b)| same_file(a, b));
        let (country, network) = if same {
            let both = country.map(|p| Database::open(p, &[Role::Country, Role::Network])).transpose()?.map(Arc::new);
            (both.clone(), both)
        } else {
            (
                country.map(|p| Database::open(p, &[Role::Country])).transpose()?.map(Arc::new),
                network.map(|p| Database::open(p, &[Role::Network])).transpose()?.map(Arc::new),
            )
        };
        Ok(GeoIp::with(country, network))
    }

    /// Databases already opened.
    pub fn with(country: Option<Arc<Database>>, network: Option<Arc<Database>>) -> GeoIp {
        GeoIp { country, network, memo: (0..SHARDS).map(|_| RwLock::default()).collect(), names: RwLock::default() }
    }

    pub fn country_database(&self) -> Option<&Arc<Database>> {
        self.country.as_ref()
    }

    pub fn network_database(&self) -> Option<&Arc<Database>> {
        self.network.as_ref()
    }

    fn shard(&self, ip: &IpAddr) -> &RwLock<FxHashMap<IpAddr, Place>> {
        use std::hash::BuildHasher;
        &self.memo[(rustc_hash::FxBuildHasher.hash_one(ip) >> 32) as usize % SHARDS]
    }

    /// What the databases say of `ip`, looked up the first time it is asked. An IPv4-mapped
    /// IPv6 address (`::ffff:1.2.3.4`) is the IPv4 address it carries, as in criteria.
    pub fn locate(&self, ip: IpAddr) -> Place {
        let ip = canonical(ip);
        if let Some(place) = self.known(ip) {
            return place;
        }
        let place = Place {
            country: self.country.as_ref().and_then(|db| db.country(ip)),
            network: self.network.as_ref().and_then(|db| db.network(ip, &self.names)),
        };
        if let Ok(mut memo) = self.shard(&ip).write() {
            memo.insert(ip, place.clone());
        }
        place
    }

    /// What is known of `ip` without looking it up: `None` when it was never asked. For the
    /// UI thread, which must not search a database while drawing a frame.
    pub fn known(&self, ip: IpAddr) -> Option<Place> {
        let ip = canonical(ip);
        self.shard(&ip).read().ok()?.get(&ip).cloned()
    }

    /// Looks up every address of `ips` not asked before, on all cores; returns how many that
    /// was. Addresses are made canonical and deduplicated first, so two spellings of one
    /// address (`::ffff:1.2.3.4`, `1.2.3.4`) are one look-up, not two racing threads.
    pub fn locate_all(&self, ips: &[IpAddr]) -> usize {
        let mut fresh: Vec<IpAddr> =
            ips.iter().map(|&ip| canonical(ip)).filter(|&ip| self.known(ip).is_none()).collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.par_iter().for_each(|&ip| {
            self.locate(ip);
        });
        fresh.len()
    }

    /// Addresses looked up so far.
    pub fn len(&self) -> usize {
        self.memo.iter().map(|m| m.read().map_or(0, |m| m.len())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The databases alone, looking addresses up as asked: for `prparser report`, which has no
/// host names.
impl HostNames for GeoIp {
    fn host_name(&self, _ip: IpAddr) -> Option<String> {
        None
    }

    fn place(&self, ip: IpAddr) -> Option<Place> {
        Some(self.locate(ip))
    }
}

/// Host names from `names`, places from `geo`.
pub struct Located<'a> {
    pub names: &'a dyn HostNames,
    pub geo: &'a GeoIp,
    /// False on the UI thread: only addresses already looked up (by a background job) are
    /// placed, so drawing a frame never searches a database.
    pub look_up: bool,
}

impl HostNames for Located<'_> {
    fn host_name(&self, ip: IpAddr) -> Option<String> {
        self.names.host_name(ip)
    }

    fn place(&self, ip: IpAddr) -> Option<Place> {
        if self.look_up { Some(self.geo.locate(ip)) } else { self.geo.known(ip) }
    }
}

/// Whether two paths name one file (as far as the file system says; else as written).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
