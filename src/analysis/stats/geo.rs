//! Remote countries and remote networks (ASNs) as one accumulator: rows by the country and by
//! the autonomous system of their remote address, counted as remote IP usage counts (specific
//! addresses only: not `*`, empty, `0.0.0.0` or `::`). Rows are counted per address id while
//! they pass; the databases are asked once per distinct address, when the view finishes, and
//! addresses they do not know are left out (each view's percentages are of the rows it
//! placed).

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analysis::aggregate::{Accumulate, Batch, PerId, Tables};
use crate::analysis::geoip::{Country, GeoIp};
use crate::model::AddrId;

use super::ranked;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountryCount {
    pub country: Country,
    pub count: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsnCount {
    pub asn: u32,
    /// As the database names it; empty when it names none.
    pub organization: String,
    pub count: u64,
    pub percent: f64,
}

/// The two views; each `None` when its database is not open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemotePlaces {
    pub countries: Option<Vec<CountryCount>>,
    pub asns: Option<Vec<AsnCount>>,
}

#[derive(Debug, Clone)]
pub struct PlaceCounts {
    geo: Arc<GeoIp>,
    /// Rows by remote address id.
    remote: PerId,
}

impl PlaceCounts {
    pub fn new(geo: Arc<GeoIp>) -> PlaceCounts {
        PlaceCounts { geo, remote: PerId::default() }
    }
}

impl Accumulate for PlaceCounts {
    type Output = RemotePlaces;

    fn add(&mut self, batch: &Batch<'_>) {
        self.remote.fit(batch.tables.addrs.len());
        batch.for_each(|e| self.remote.bump(e.remote_ip.0 as usize));
    }

    fn merge(&mut self, other: PlaceCounts) {
        self.remote.merge(other.remote);
    }

    fn finish(self, t: Tables<'_>) -> RemotePlaces {
        let rows: Vec<(std::net::IpAddr, u64)> = self
            .remote
            .nonzero()
            .filter_map(|(id, n)| {
                let addr = t.addrs.resolve(AddrId(id as u32));
                addr.is_specific().then(|| addr.ip()).flatten().map(|ip| (ip, n))
            })
            .collect();
        let geo = &self.geo;
        let placed: Vec<_> = rows.par_iter().map(|&(ip, n)| (geo.locate(ip), n)).collect();
        let countries = geo.country_database().map(|_| {
            let mut by: FxHashMap<Country, u64> = FxHashMap::default();
            for (place, n) in &placed {
                if let Some(c) = place.country {
                    *by.entry(c).or_default() += n;
                }
            }
            ranked(by.into_iter().collect(), |country, count, percent| CountryCount { country, count, percent })
        });
        let asns = geo.network_database().map(|_| {
            // An AS is named by the first of its names in order, should its networks differ.
            let mut by: FxHashMap<u32, (u64, Arc<str>)> = FxHashMap::default();
            for (place, n) in &placed {
                if let Some(net) = &place.network {
                    let entry = by.entry(net.number).or_insert_with(|| (0, Arc::clone(&net.organization)));
                    entry.0 += n;
                    if net.organization < entry.1 {
                        entry.1 = Arc::clone(&net.organization);
                    }
                }
            }
            let pairs = by.into_iter().map(|(asn, (n, name))| ((asn, name), n)).collect();
            ranked(pairs, |(asn, name), count, percent| AsnCount {
                asn,
                organization: name.to_string(),
                count,
                percent,
            })
        });
        RemotePlaces { countries, asns }
    }
}
