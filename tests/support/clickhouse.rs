//! A real ClickHouse server for tests: Debian's `clickhouse-server` (18.16; `.ci/run` installs
//! it), run from a temporary folder with its own config, data and logs on free loopback ports,
//! stopped and removed when dropped. Nothing is mocked: the tests talk HTTP to the real engine.
//!
//! Two users: `default` without a password and `tester` with [`PASSWORD`], to check that
//! credentials reach the server and that a wrong password is refused.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use std::time::{Duration, Instant};

/// The password of the `tester` user.
pub const PASSWORD: &str = "s3cret pass";

/// A running server, stopped when dropped.
pub struct TestClickHouse {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub http_port: u16,
    /// The native protocol's port, for `clickhouse-client --port`.
    pub tcp_port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl TestClickHouse {
    /// Runs one query as `default` and returns the body, panicking with the server's error.
    pub fn query(&self, sql: &str) -> String {
        let mut response = ureq::post(&format!("{}/", self.url))
            .config()
            .http_status_as_error(false)
            .build()
            .send(sql)
            .expect("the test server answers");
        let status = response.status();
        let body = response.body_mut().read_to_string().expect("a text answer");
        assert!(status.is_success(), "query {sql:?} failed: {status} {body}");
        body
    }

    /// The server's folder (config, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect(
            "clickhouse-server is not installed: apt-get install clickhouse-server clickhouse-client (.ci/run does)",
        )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a free loopback port").port()
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <tester>
            <password>PASSWORD</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </tester>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"#;

/// Starts a server and waits until `GET /ping` answers.
pub fn start() -> TestClickHouse {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let (http_port, tcp_port, interserver_port) = (free_port(), free_port(), free_port());
    let config = std::fs::read_to_string("/etc/clickhouse-server/config.xml")
        .expect("/etc/clickhouse-server/config.xml (apt-get install clickhouse-server)");
    let data = format!("{}/data/", root.display());
    let logs = format!("{}/log/", root.display());
    let config = config
        .replace("/var/lib/clickhouse/", &data)
        .replace("/var/log/clickhouse-server/", &logs)
        .replace("<http_port>8123</http_port>", &format!("<http_port>{http_port}</http_port>"))
        .replace("<tcp_port>9000</tcp_port>", &format!("<tcp_port>{tcp_port}</tcp_port>"))
        .replace(
            "<interserver_http_port>9009</interserver_http_port>",
            &format!("<interserver_http_port>{interserver_port}</interserver_http_port>"),
        )
        // Loopback over IPv4 only: a machine without IPv6 would refuse `::1`.
        .replace("<listen_host>::1</listen_host>", "")
        .replace("<level>trace</level>", "<level>warning</level>");
    std::fs::create_dir_all(&logs).expect("log folder");
    std::fs::write(root.join("config.xml"), config).expect("write config");
    std::fs::write(root.join("users.xml"), USERS.replace("PASSWORD", PASSWORD)).expect("write users");
    let child = Command::new(server_binary())
        .arg(format!("--config-file={}/config.xml", root.display()))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start clickhouse-server");
    let mut server = TestClickHouse { url: format!("http://127.0.0.1:{http_port}"), http_port, tcp_port, child, dir };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(mut r) = ureq::get(&format!("{}/ping", server.url)).call()
            && r.body_mut().read_to_string().is_ok_and(|b| b.starts_with("Ok"))
        {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let err = std::fs::read_to_string(format!("{logs}clickhouse-server.err.log")).unwrap_or_default();
            panic!("clickhouse-server exited ({status}) before answering: {err}");
        }
        assert!(Instant::now() < deadline, "clickhouse-server did not answer /ping within 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs prparser with `env` (and no CLICKHOUSE_PASSWORD otherwise): exit code, stdout, stderr.
pub fn prparser(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prparser"));
    cmd.args(args).env_remove("CLICKHOUSE_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `prparser ingest` into `database`, which must succeed; its standard output.
pub fn ingest(server: &TestClickHouse, database: &str, extra: &[&str], paths: &[&Path]) -> String {
    let mut args = vec!["ingest", "--clickhouse", &server.url, "--database", database];
    args.extend_from_slice(extra);
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let (code, stdout, stderr) = prparser(&args, &[]);
    assert_eq!(code, 0, "ingest failed: {stderr}");
    stdout
}

pub fn json_report(args: &[String]) -> Value {
    let mut all = vec!["report".to_string(), "--format".into(), "json".into()];
    all.extend_from_slice(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = prparser(&all, &[]);
    assert_eq!(code, 0, "report {all:?} failed: {stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

/// The local report on `paths` and the server's report, with the same `options`, compared
/// field by field; the server's lists of malformed lines and warnings are empty.
pub fn assert_same_report(server: &TestClickHouse, database: &str, paths: &[&Path], options: &[&str]) -> Value {
    compare_reports(server, database, paths, options, true).0
}

/// [`assert_same_report`] for rows loaded without port tables (a Vector pipeline): every view
/// compared but Changes; both reports are given back, local then server.
pub fn assert_same_report_but_changes(
    server: &TestClickHouse,
    database: &str,
    paths: &[&Path],
    options: &[&str],
) -> (Value, Value) {
    compare_reports(server, database, paths, options, false)
}

fn compare_reports(
    server: &TestClickHouse,
    database: &str,
    paths: &[&Path],
    options: &[&str],
    changes: bool,
) -> (Value, Value) {
    let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
    let mut local_args = options.clone();
    local_args.extend(paths.iter().map(|p| p.display().to_string()));
    let local = json_report(&local_args);
    let mut server_args = vec!["--clickhouse".to_string(), server.url.clone(), "--database".into(), database.into()];
    server_args.extend(options);
    let remote = json_report(&server_args);
    let (Value::Object(local_fields), Value::Object(remote_fields)) = (&local, &remote) else {
        panic!("reports are objects");
    };
    assert_eq!(local_fields.keys().collect::<Vec<_>>(), remote_fields.keys().collect::<Vec<_>>());
    for (name, value) in local_fields {
        match name.as_str() {
            "changes" if changes => assert_same_changes(value, &remote["changes"], &server_args),
            "changes" => {}
            "malformed_lines" | "warnings" => assert_eq!(remote[name], Value::Array(Vec::new()), "{name}"),
            "stats" => {
                let views = |report: &Value| report["stats"].as_object().map(|s| s.keys().cloned().collect::<Vec<_>>());
                assert_eq!(views(&remote), views(&local), "the same views with {server_args:?}");
                for (view, entries) in value.as_object().expect("stats object") {
                    assert_eq!(&remote["stats"][view], entries, "stats.{view} with {server_args:?}");
                }
            }
            _ => assert_eq!(&remote[name], value, "{name} with {server_args:?}"),
        }
    }
    (local, remote)
}

/// The Changes views of the two reports are equal, but that the server names the baseline's
/// PR-INITIAL logs by file name (it does not keep the folders they were read from).
pub fn assert_same_changes(local: &Value, remote: &Value, args: &[String]) {
    let mut local = local.clone();
    if let Some(files) = local["baseline"].get_mut("files").and_then(Value::as_array_mut) {
        for f in files.iter_mut() {
            let name = Path::new(f.as_str().expect("a path")).file_name().expect("a file name");
            *f = Value::String(name.to_string_lossy().into_owned());
        }
    }
    for (list, entries) in local.as_object().expect("changes object") {
        assert_eq!(&remote[list], entries, "changes.{list} with {args:?}");
    }
    assert_eq!(local.as_object().map(|o| o.len()), remote.as_object().map(|o| o.len()));
}
