use super::*;
use crate::analysis::test_support::set_from;

const PORTS: &str = "\
08/6/30,10:0:0,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:1,TCP,1448,192.168.1.103,80,65.55.200.252,372,WINWORD.EXE,<PC\\u>
08/6/30,11:0:2,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,11:0:3,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,23:59:59,TCP,49201,::,443,::,3312,iexplore.exe,<PC\\u>
08/6/30,23:0:0,TCP,1449,192.168.1.103,443,10.0.0.10,3312,iexplore.exe,<PC\\u>
08/6/30,23:0:1,TCP,1449,192.168.1.103,443,10.0.0.9,3480,iexplore.exe,<PC\\admin>
08/6/30,23:0:2,TCP,1450,192.168.1.103,443,10.0.0.10,3312,iexplore.exe,<PC\\u>
08/6/30,23:0:3,TCP,1451,192.168.1.103,80,10.0.0.10,3312,iexplore.exe
04/1/24,8:52:21,TCP,4873,169.254.66.8,80,63.208.107.43
";

#[test]
fn row_views_count_percent_and_order_exactly() {
    let set = set_from(PORTS, None);
    let s = row_stats(&set.ports, None);
    assert_eq!(s.rows, 10);
    let tcp: Vec<(u16, u64, f64)> = s.local_tcp_port_usage.iter().map(|c| (c.port, c.count, c.percent)).collect();
    assert_eq!(
        tcp,
        vec![
            (1449, 2, 22.22),
            (1447, 1, 11.11),
            (1448, 1, 11.11),
            (1450, 1, 11.11),
            (1451, 1, 11.11),
            (3389, 1, 11.11),
            (4873, 1, 11.11),
            (49201, 1, 11.11)
        ]
    );
    let procs: Vec<(&str, u64, f64)> =
        s.process_usage.iter().map(|c| (c.process.as_str(), c.count, c.percent)).collect();
    assert_eq!(
        procs,
        vec![("iexplore.exe", 5, 55.56), ("svchost.exe", 2, 22.22), ("System", 1, 11.11), ("WINWORD.EXE", 1, 11.11)]
    );
    let ips: Vec<(String, u64, f64)> =
        s.remote_ip_usage.iter().map(|c| (c.ip.to_string(), c.count, c.percent)).collect();
    assert_eq!(
        ips,
        vec![
            ("10.0.0.10".into(), 3, 42.86),
            ("65.55.200.252".into(), 2, 28.57),
            ("10.0.0.9".into(), 1, 14.29),
            ("63.208.107.43".into(), 1, 14.29)
        ]
    );
    let users: Vec<(&str, u64, f64)> =
        s.user_context_usage.iter().map(|c| (c.user.as_str(), c.count, c.percent)).collect();
    assert_eq!(users, vec![("PC\\u", 4, 57.14), ("NT AUTHORITY\\SYSTEM", 2, 28.57), ("PC\\admin", 1, 14.29)]);
    let hours: Vec<u64> = s.port_usage_by_hour.iter().map(|h| h.count).collect();
    let mut want = vec![0; 24];
    want[8] = 1;
    want[10] = 2;
    want[11] = 2;
    want[23] = 5;
    assert_eq!(hours, want);
    assert_eq!(s.port_usage_by_hour.iter().map(|h| h.hour).collect::<Vec<_>>(), (0..24).collect::<Vec<_>>());
}

#[test]
fn subsets_count_only_their_rows() {
    let set = set_from(PORTS, None);
    let s = row_stats(&set.ports, Some(&[1, 4]));
    assert_eq!(s.rows, 2);
    assert_eq!(s.process_usage.len(), 1);
    assert_eq!((s.process_usage[0].count, s.process_usage[0].percent), (2, 100.0));
    assert_eq!(s.remote_ip_usage.len(), 1);
}

#[test]
fn per_process_usage_lists_each_users_remote_hosts() {
    let set = set_from(PORTS, None);
    let usage = per_process_usage(&set.ports, "IEXPLORE.EXE", None);
    type Flat<'a> = (&'a str, u64, f64, Vec<(String, u64)>);
    let flat: Vec<Flat> = usage
        .iter()
        .map(|u| {
            (u.user.as_str(), u.count, u.percent, u.remote_hosts.iter().map(|h| (h.ip.to_string(), h.count)).collect())
        })
        .collect();
    assert_eq!(
        flat,
        vec![
            ("PC\\u", 3, 60.0, vec![("10.0.0.10".into(), 2)]),
            ("", 1, 20.0, vec![("10.0.0.10".into(), 1)]),
            ("PC\\admin", 1, 20.0, vec![("10.0.0.9".into(), 1)]),
        ]
    );
}

const PIDS: &str = "\
Port Reporter Version 1.0 Log File
Process detail log
System Date: Sat Jan 24 08:49:31 2004
Local computer name:<PC>
======================================================
Log entry below recorded at: Sat Jan 24 08:52:21 2004
======================================================
Process ID: 1092 (svchost.exe)
User context: NT AUTHORITY\\SYSTEM
Service Name: wuauserv
Display Name: Automatic Updates
Service Name: BITS
Display Name: Background Intelligent Transfer Service
Service Type: shares a process with other services
Loaded modules:
D:\\WINDOWS\\System32\\svchost.exe (0x01000000)
======================================================
Log entry below recorded at: Sat Jan 24 08:53:21 2004
======================================================
Process ID: 1092 (svchost.exe)
User context: NT AUTHORITY\\SYSTEM
Service Name: AudioSrv
Display Name: Windows Audio
Loaded modules:
D:\\WINDOWS\\System32\\svchost.exe (0x01000000)
======================================================
Log entry below recorded at: Sat Jan 24 08:54:21 2004
======================================================
Process ID: 3120 (svchost.exe)
User context: MYDOMAIN\\user
Process doesn't appear to be a service
Loaded modules:
C:\\Documents and Settings\\user\\Local Settings\\Temp\\svchost.exe (0x00400000)
======================================================
Log entry below recorded at: Sat Jan 24 08:55:21 2004
======================================================
Process ID: 1308 (smss.exe)
User context: NT AUTHORITY\\SYSTEM
Process doesn't appear to be a service
Loaded modules:
\\SystemRoot\\System32\\smss.exe (0x48580000)
======================================================
Log entry below recorded at: Sat Jan 24 08:56:21 2004
======================================================
Process ID: 1500 (explorer.exe)
User context: MYDOMAIN\\user
Process doesn't appear to be a service
Loaded modules:
C:\\WINDOWS\\system32\\explorer.exe (0x01000000)
";

#[test]
fn svchost_enumeration_and_masquerading_from_blocks() {
    let set = set_from("", Some(PIDS));
    assert_eq!(
        svchost_enumeration(&set),
        vec![
            SvchostEntry {
                computer: String::new(),
                pid: 1092,
                services: vec!["AudioSrv".into(), "BITS".into(), "wuauserv".into()]
            },
            SvchostEntry { computer: String::new(), pid: 3120, services: vec![] },
        ]
    );
    assert_eq!(
        masquerading(&set),
        vec![
            Masquerade {
                computer: String::new(),
                pid: 1500,
                process: "explorer.exe".into(),
                path: "C:\\WINDOWS\\system32\\explorer.exe".into()
            },
            Masquerade {
                computer: String::new(),
                pid: 3120,
                process: "svchost.exe".into(),
                path: "C:\\Documents and Settings\\user\\Local Settings\\Temp\\svchost.exe".into()
            },
        ]
    );
}

#[test]
fn normal_locations_of_system_binaries() {
    for (name, path) in [
        ("svchost.exe", "C:\\WINDOWS\\system32\\svchost.exe"),
        ("svchost.exe", "d:\\windows\\System32\\SVCHOST.EXE"),
        ("svchost.exe", "C:\\Windows\\SysWOW64\\svchost.exe"),
        ("smss.exe", "\\SystemRoot\\System32\\smss.exe"),
        ("csrss.exe", "\\??\\C:\\WINDOWS\\system32\\csrss.exe"),
        ("lsass.exe", "C:\\WINNT\\system32\\lsass.exe"),
        ("winlogon.exe", "%SystemRoot%\\system32\\winlogon.exe"),
        ("explorer.exe", "C:\\WINDOWS\\explorer.exe"),
    ] {
        assert!(is_normal_location(name, path), "{path}");
    }
    for (name, path) in [
        ("svchost.exe", "C:\\WINDOWS\\svchost.exe"),
        ("svchost.exe", "C:\\WINDOWS\\system32\\drivers\\svchost.exe"),
        ("lsass.exe", "C:\\WINDOWS\\SysWOW64\\lsass.exe"),
        ("svchost.exe", "C:\\Temp\\WINDOWS\\system32\\svchost.exe"),
        ("svchost.exe", "C:\\WINDOWS\\system32\\svch0st.exe"),
        ("explorer.exe", "C:\\WINDOWS\\system32\\explorer.exe"),
        ("services.exe", "services.exe"),
    ] {
        assert!(!is_normal_location(name, path), "{path}");
    }
}

#[test]
fn computer_usage_takes_the_flags_of_the_rows_it_counts() {
    let set = set_from(PORTS, None);
    let mut flagged = vec![false; set.ports.events.len()];
    flagged[0] = true;
    flagged[3] = true;
    let all = computers::computer_usage(&set.ports, None, &flagged);
    assert_eq!(all.iter().map(|c| (c.computer.as_str(), c.rows, c.flagged)).collect::<Vec<_>>(), [("", 10, 2)]);
    // Rows 5 and 3, in that order: the flag of row 3 goes with row 3.
    let some = computers::computer_usage(&set.ports, Some(&[5, 3]), &flagged);
    assert_eq!(some.iter().map(|c| (c.rows, c.flagged)).collect::<Vec<_>>(), [(2, 1)]);
    assert_eq!(some[0].last, Some(set.ports.events[5].time.max(set.ports.events[3].time)));
}
