//! GeoIP in the app, driven as a person would: View › GeoIP databases... opens a country and
//! an ASN database (written here by the test writer, nothing downloaded), the grid's Country
//! and AS columns fill, the Remote countries and Remote ASNs statistics count and filter the
//! grid, country criteria flag rows, and a file that is no database is refused with its reason.

mod support;

use std::path::{Path, PathBuf};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use support::app::{open_in_dialog, sample_logs, type_into};
use support::mmdb::{Writer, geolite2_asn, geolite2_country};

/// A country and an ASN database over three of the sample's remote networks: 217.12.11.66
/// (14 rows), 198.51.100.20 (13 rows) and 66.102.9.147 (11 rows; no AS).
fn databases(dir: &Path) -> (PathBuf, PathBuf) {
    let (country, asn) = (dir.join("country.mmdb"), dir.join("asn.mmdb"));
    Writer::new("GeoLite2-Country")
        .insert("217.12.11.0/24", geolite2_country("DE"))
        .insert("198.51.100.0/24", geolite2_country("FR"))
        .insert("66.102.9.0/24", geolite2_country("US"))
        .write(&country);
    Writer::new("GeoLite2-ASN")
        .insert("217.12.11.0/24", geolite2_asn(64500, "EXAMPLE-NET"))
        .insert("198.51.100.0/24", geolite2_asn(64501, "DOC-NET"))
        .write(&asn);
    (country, asn)
}

fn click(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    support::app::settle(harness);
}

/// Picks `choice` in the last combo box showing `now`.
fn choose(harness: &mut Harness<'static, PrParserApp>, now: &str, choice: &str) {
    harness.get_all_by_value(now).last().expect("the combo box").click();
    harness.run_steps(2);
    // The list scrolls, the later fields below its fold: an accessibility click reaches them.
    harness.get_by_label(choice).click_accesskit();
    harness.run_steps(2);
    support::app::settle(harness);
}

#[test]
fn databases_chosen_in_the_window_fill_the_columns_statistics_and_criteria() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (country, asn) = databases(dir.path());
    let settings = Settings { builtin_file_dialog: true, ..Settings::default() };
    let mut harness = support::app::app_with(settings, vec![sample_logs()]);
    assert!(harness.query_by_label("Remote countries").is_none(), "no database, no statistics tab");

    harness.get_by_label("View").click();
    harness.run_steps(2);
    click(&mut harness, "GeoIP databases...");
    click(&mut harness, "Choose country database...");
    open_in_dialog(&mut harness, &sample_logs(), &country);
    harness.get_by_label_contains("country.mmdb (GeoLite2-Country, built ");
    // The dialog now starts where the country database was.
    click(&mut harness, "Choose ASN database...");
    open_in_dialog(&mut harness, dir.path(), &asn);
    harness.get_by_label_contains("asn.mmdb (GeoLite2-ASN, built ");
    click(&mut harness, "Close window");

    type_into(&mut harness, "Filter", "217.12.11.66");
    harness.get_by_label("Rows shown: 14");
    assert_eq!(harness.get_all_by_label("DE").count(), 14, "every row's Country cell");
    assert_eq!(harness.get_all_by_label("AS64500 EXAMPLE-NET").count(), 14, "every row's AS cell");
    harness.get_all_by_label("Filter").last().expect("the quick filter").click();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.key_press(Key::Backspace);
    support::app::settle(&mut harness);
    // The AS column filters as shown.
    type_into(&mut harness, "Filter", "doc-net");
    harness.get_by_label("Rows shown: 13");
    harness.get_all_by_label("Filter").last().expect("the quick filter").click();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.key_press(Key::Backspace);
    support::app::settle(&mut harness);
    harness.get_by_label("Rows shown: 319");

    click(&mut harness, "Statistics");
    click(&mut harness, "Remote countries");
    // 38 rows placed: 14 in DE, 13 in FR, 11 in US.
    harness.get_by_label("36.84%");
    harness.get_by_label("34.21%");
    harness.get_by_label("28.95%");
    harness.get_all_by_label("DE").last().expect("the DE entry").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to remote country DE");
    harness.get_by_label("Rows shown: 14");
    click(&mut harness, "Clear");

    click(&mut harness, "Statistics");
    click(&mut harness, "Remote ASNs");
    // 27 rows in a known AS: 14 and 13.
    harness.get_by_label("51.85%");
    harness.get_by_label("48.15%");
    harness.get_by_label("DOC-NET");
    harness.get_all_by_label("AS64501").last().expect("the AS64501 entry").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to remote AS64501");
    harness.get_by_label("Rows shown: 13");

    click(&mut harness, "Criteria...");
    click(&mut harness, "Add criterion");
    choose(&mut harness, "module", "country");
    choose(&mut harness, "exact", "one of");
    type_into(&mut harness, "Pattern", "de,fr");
    harness.get_by_label("Rows flagged: 27");
    harness.get_by_label("27 rows");
}

#[test]
fn databases_named_in_the_settings_open_on_start_and_a_file_that_is_none_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (country, asn) = databases(dir.path());
    let broken = dir.path().join("broken.mmdb");
    std::fs::write(&broken, b"not a MaxMind database at all").expect("file");
    let settings = Settings {
        builtin_file_dialog: true,
        geoip_country: Some(country.clone()),
        geoip_asn: Some(asn),
        ..Settings::default()
    };
    let mut harness = support::app::app_with(settings, vec![sample_logs()]);
    type_into(&mut harness, "Filter", "198.51.100.20");
    harness.get_by_label("Rows shown: 13");
    assert_eq!(harness.get_all_by_label("FR").count(), 13);
    assert_eq!(harness.get_all_by_label("AS64501 DOC-NET").count(), 13);

    harness.get_by_label("View").click();
    harness.run_steps(2);
    click(&mut harness, "GeoIP databases...");
    click(&mut harness, "Choose country database...");
    open_in_dialog(&mut harness, &sample_logs(), &broken);
    harness.get_by_label_contains(&format!("{} is not a usable MaxMind database", broken.display()));
    // The database in use stays.
    harness.get_by_label_contains("country.mmdb (GeoLite2-Country, built ");
    assert_eq!(harness.get_all_by_label("FR").count(), 13);

    click(&mut harness, "Remove ASN database");
    assert_eq!(harness.query_all_by_label("AS64501 DOC-NET").count(), 0, "the AS column empties");
    assert_eq!(harness.get_all_by_label("FR").count(), 13, "the country database stays");
}
