//! What prparser reads of a database record, in each layout it knows:
//!
//! - **GeoLite2 / GeoIP2** Country and City, **DB-IP lite** country and city:
//!   `country.iso_code`, else `registered_country.iso_code` (networks MaxMind places in no
//!   country, such as some anycast ranges, still have a registered one);
//! - **GeoLite2 ASN**, **DB-IP lite ASN**: `autonomous_system_number` and
//!   `autonomous_system_organization`;
//! - **IPinfo**, flat: `country` as the code (the free `country_asn` file) or `country_code`
//!   (IPinfo Lite, where `country` is the country's name), `asn` as `"AS13335"` and `as_name`.
//!
//! Only these fields are decoded; the rest of a record (names in many languages, locations) is
//! skipped without being expanded, which keeps a lookup cheap.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::Country;

/// The country fields of a record.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CountryRecord {
    #[serde(default)]
    country: Option<CountryField>,
    #[serde(default)]
    registered_country: Option<CountryField>,
    #[serde(default)]
    country_code: Option<CountryField>,
}

impl CountryRecord {
    pub(super) fn country(&self) -> Option<Country> {
        [&self.country, &self.country_code, &self.registered_country].into_iter().find_map(|f| f.as_ref()?.0)
    }
}

/// The network fields of a record.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<AsnField>,
    #[serde(default, borrow)]
    autonomous_system_organization: Option<Text<'a>>,
    #[serde(default)]
    asn: Option<AsnField>,
    #[serde(default, borrow)]
    as_name: Option<Text<'a>>,
}

impl<'a> AsnRecord<'a> {
    /// The number and the organisation (empty when the record names none).
    pub(super) fn network(&self) -> Option<(u32, &str)> {
        let (number, name) = match (&self.autonomous_system_number, &self.asn) {
            (Some(AsnField(Some(n))), _) => (*n, &self.autonomous_system_organization),
            (_, Some(AsnField(Some(n)))) => (*n, &self.as_name),
            _ => return None,
        };
        Some((number, name.as_ref().map_or("", |t| t.0.as_ref())))
    }
}

/// Text, borrowed from the database where the decoder can.
#[derive(Debug)]
pub(super) struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A country as GeoLite2 writes it (a map with `iso_code`) or as IPinfo does (the code
/// itself); `None` inside when the value is neither (IPinfo Lite's country name, a map
/// without a code).
#[derive(Debug, Default)]
struct CountryField(Option<Country>);

impl<'de> Deserialize<'de> for CountryField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CountryField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a country code or a map with iso_code")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CountryField(Country::parse(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut code = None;
                while let Some(key) = map.next_key::<Text<'_>>()? {
                    if key.0 == "iso_code" {
                        code = map.next_value::<Text<'_>>().map(|t| Country::parse(&t.0))?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(CountryField(code))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(CountryField(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(CountryField(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An AS number as GeoLite2 writes it (an integer) or as IPinfo does (`"AS13335"`).
#[derive(Debug, Default)]
struct AsnField(Option<u32>);

impl<'de> Deserialize<'de> for AsnField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AsnField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AsnField(u32::try_from(v).ok()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AsnField(u32::try_from(v).ok()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AsnField(parse_asn(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AsnField(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `13335`, `AS13335` or `as13335`.
pub fn parse_asn(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.strip_prefix("AS").or_else(|| text.strip_prefix("as")).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
