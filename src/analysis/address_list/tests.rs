use super::*;

fn list(text: &str) -> AddressList {
    AddressList::parse(Path::new("/lists/test.netset"), text.as_bytes())
}

fn hit(list: &AddressList, ip: &str) -> Option<String> {
    list.lookup(ip.parse().expect("test address")).map(|e| e.to_string())
}

#[test]
fn firehol_netset_with_comments_and_bad_lines() {
    let l = list(
        "#\n# firehol_level1\n#\n\n1.2.3.0/24\n5.6.7.8\n10.1.2.3/8\n2001:db8::/32\n\
         1.2.3.4-1.2.3.9\nnot an address\n192.0.2.0/33\n  198.51.100.7  \r\n",
    );
    assert_eq!(l.len(), 5);
    assert_eq!(l.bad_lines(), &[9, 10, 11]);
    assert_eq!(l.bad_line_count(), 3);
    assert_eq!(hit(&l, "1.2.3.200").as_deref(), Some("1.2.3.0/24 — test.netset line 5"));
    assert_eq!(hit(&l, "5.6.7.8").as_deref(), Some("5.6.7.8 — test.netset line 6"));
    assert_eq!(hit(&l, "10.200.0.1").as_deref(), Some("10.0.0.0/8 — test.netset line 7"));
    assert_eq!(hit(&l, "2001:db8:1::5").as_deref(), Some("2001:db8::/32 — test.netset line 8"));
    assert_eq!(hit(&l, "198.51.100.7").as_deref(), Some("198.51.100.7 — test.netset line 12"));
    assert_eq!(hit(&l, "5.6.7.9"), None);
    assert_eq!(hit(&l, "1.2.4.1"), None);
    assert_eq!(l.summary(), "test.netset: 5 entries; 3 unreadable lines skipped (line 9, 10, 11)");
}

#[test]
fn spamhaus_drop_ipsum_and_plain_lists() {
    let drop = list(
        "; Spamhaus DROP List 2024/01/01\n; Last-Modified: x\n1.10.16.0/20 ; SBL256894\n223.254.0.0/16 ; SBL212803\nbad ; SBL1\n",
    );
    assert_eq!((drop.len(), drop.bad_lines()), (2, &[5u32][..]));
    assert_eq!(hit(&drop, "1.10.31.255").as_deref(), Some("1.10.16.0/20 — test.netset line 3"));

    let ipsum = list(
        "# IPsum Threat Intelligence Feed\n#\n45.148.10.12\t10\n80.82.77.139\t9\n1.2.3.4\tmany\n1.2.3.5\t3\textra\n",
    );
    assert_eq!((ipsum.len(), ipsum.bad_lines()), (2, &[5u32, 6][..]));
    assert_eq!(hit(&ipsum, "80.82.77.139").as_deref(), Some("80.82.77.139 — test.netset line 4"));

    let plain = list("203.0.113.9\n2001:db8::66\n[2001:db8::67]\n::ffff:192.0.2.1\n");
    assert_eq!((plain.len(), plain.bad_line_count()), (4, 0));
    assert_eq!(hit(&plain, "2001:db8::67").as_deref(), Some("2001:db8::67 — test.netset line 3"));
    // An IPv4-mapped entry and an IPv4-mapped address both mean the IPv4 address.
    assert_eq!(hit(&plain, "192.0.2.1").as_deref(), Some("192.0.2.1 — test.netset line 4"));
    assert_eq!(hit(&plain, "::ffff:203.0.113.9").as_deref(), Some("203.0.113.9 — test.netset line 1"));
}

#[test]
fn the_most_specific_entry_is_named_and_duplicates_keep_their_first_line() {
    let l = list("10.0.0.0/8\n10.1.0.0/16\n10.1.0.0/16\n\u{FEFF}x\n");
    assert_eq!((l.len(), l.duplicates(), l.bad_lines()), (2, 1, &[4u32][..]));
    assert_eq!(hit(&l, "10.1.2.3").as_deref(), Some("10.1.0.0/16 — test.netset line 2"));
    assert_eq!(hit(&l, "10.2.0.1").as_deref(), Some("10.0.0.0/8 — test.netset line 1"));
}

#[test]
fn a_byte_order_mark_and_lines_that_are_not_utf8() {
    let mut text = b"\xEF\xBB\xBF192.0.2.0/24\n".to_vec();
    text.extend_from_slice(b"\xff\xfe1.2.3.4\n198.51.100.0/24 # \xe9t\xe9\n");
    let l = AddressList::parse(Path::new("x.txt"), &text);
    assert_eq!((l.len(), l.bad_lines()), (2, &[2u32][..]));
}

#[test]
fn bad_lines_past_the_kept_ones_are_still_counted() {
    let text = "junk\n".repeat(MAX_KEPT_BAD_LINES + 5);
    let l = list(&text);
    assert_eq!(l.bad_line_count(), MAX_KEPT_BAD_LINES + 5);
    assert_eq!(l.bad_lines().len(), MAX_KEPT_BAD_LINES);
    assert_eq!(l.bad_lines().last(), Some(&(MAX_KEPT_BAD_LINES as u32)));
}

#[test]
fn files_load_and_report_their_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.netset");
    std::fs::write(&path, "203.0.113.0/24\n").expect("write");
    let l = AddressList::load(&path).expect("load");
    assert_eq!(l.len(), 1);
    assert!(!l.changed_on_disk());
    std::fs::write(&path, "203.0.113.0/24\n198.51.100.0/24\n").expect("rewrite");
    assert!(l.changed_on_disk());
    std::fs::remove_file(&path).expect("remove");
    assert!(l.changed_on_disk());
    let missing = AddressList::load(&path).expect_err("gone").to_string();
    assert!(missing.starts_with(&format!("cannot read address list {}: ", path.display())), "{missing}");
}

#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("list.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).expect("mkfifo");
    // Refused at once, not waited on for a writer.
    let err = AddressList::load(&fifo).expect_err("a FIFO").to_string();
    assert_eq!(err, format!("address list {} is a FIFO, not a regular file: refused", fifo.display()));
    let err = AddressList::load(Path::new("/dev/zero")).expect_err("a device").to_string();
    assert_eq!(err, "address list /dev/zero is a device, not a regular file: refused");
    let err = AddressList::load(dir.path()).expect_err("a folder").to_string();
    assert_eq!(err, format!("address list {} is a folder, not a regular file: refused", dir.path().display()));
}

#[test]
fn files_over_the_limit_are_refused_without_being_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.netset");
    let file = File::create(&path).expect("create");
    // Sparse: no disk space is used.
    file.set_len(MAX_LIST_FILE_BYTES + 1).expect("set_len");
    let err = AddressList::load(&path).expect_err("too large").to_string();
    assert_eq!(err, format!("address list {} is larger than 512 MiB: refused", path.display()));
}

#[test]
fn loaded_files_are_shared_until_they_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.netset");
    std::fs::write(&path, "192.0.2.0/24\n").expect("write");
    let first = ListFiles.list(&path).expect("load");
    let again = ListFiles.list(&path).expect("cached");
    assert!(Arc::ptr_eq(&first, &again));
    std::fs::write(&path, "192.0.2.0/24\n198.51.100.0/24\n").expect("rewrite");
    let reloaded = ListFiles.list(&path).expect("reload");
    assert!(!Arc::ptr_eq(&first, &reloaded));
    assert_eq!((first.len(), reloaded.len()), (1, 2));
}

#[test]
fn a_million_entries() {
    // 1,000,000 distinct /32s and /24s, as the largest public lists have.
    let mut text = String::with_capacity(16 << 20);
    for i in 0..1_000_000u32 {
        let [a, b, c, d] = (0x0A00_0000 + i * 7).to_be_bytes();
        if i % 4 == 0 {
            text.push_str(&format!("{a}.{b}.{c}.0/24\n"));
        } else {
            text.push_str(&format!("{a}.{b}.{c}.{d}\n"));
        }
    }
    text.push_str("# end\n");
    let l = list(&text);
    // Every fourth line is a /24; /24s repeat while successive entries share 3 octets.
    let distinct: std::collections::HashSet<IpNet> =
        text.lines().filter(|l| !l.starts_with('#')).map(|l| parse_net(l).expect("generated")).collect();
    assert_eq!(l.len(), distinct.len());
    assert_eq!(l.duplicates(), 1_000_000 - distinct.len());
    assert_eq!(l.bad_line_count(), 0);
    let last = 0x0A00_0000 + 999_999 * 7;
    assert_eq!(
        hit(&l, &std::net::Ipv4Addr::from(last).to_string()).as_deref(),
        Some("10.106.207.185 — test.netset line 1000000")
    );
    assert_eq!(hit(&l, "10.0.0.1"), Some("10.0.0.0/24 — test.netset line 1".into()));
    assert_eq!(hit(&l, "9.255.255.255"), None);
}

#[test]
fn line_numbers_do_not_depend_on_how_the_text_is_cut() {
    let text = "# head\r\n10.0.0.0/8\r\n\r\nbad\n192.0.2.1 ; x\n\n\nworse\n2001:db8::/32";
    let whole = AddressList::parse_in_pieces(Path::new("l"), text.as_bytes(), usize::MAX);
    let entries = |l: &AddressList| -> Vec<(IpNet, u32)> { l.nets.iter().map(|(n, line)| (n, *line)).collect() };
    assert_eq!(
        entries(&whole),
        vec![
            ("10.0.0.0/8".parse().expect("net"), 2),
            ("192.0.2.1/32".parse().expect("net"), 5),
            ("2001:db8::/32".parse().expect("net"), 9)
        ]
    );
    assert_eq!(whole.bad_lines(), &[4, 8]);
    for size in 1..=text.len() {
        let cut = AddressList::parse_in_pieces(Path::new("l"), text.as_bytes(), size);
        assert_eq!((entries(&cut), cut.bad_lines()), (entries(&whole), whole.bad_lines()), "pieces of {size} bytes");
    }
}
