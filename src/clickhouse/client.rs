//! ClickHouse's HTTP interface, the plain way: SQL in a POST body, rows in and out as JSON
//! (`JSONEachRow` in, `JSONCompact` out). No native protocol and no binary row formats, so
//! the same client talks to 18.16 and to current releases alike.

use std::time::Duration;

use serde_json::Value;

/// What went wrong talking to a server; every message names the server.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    #[error("ClickHouse at {server}: {message}")]
    Server { server: String, message: String },
    #[error("ClickHouse at {server} cannot be reached: {message}")]
    Unreachable { server: String, message: String },
    #[error("{0}")]
    Usage(String),
}

/// Where to connect and as whom. The password is never part of the URL: a URL is visible to
/// every user of the machine in the process list.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `http://host:port`, without user, password, path or query.
    pub url: String,
    /// A plain identifier: it is put into SQL as it is.
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Connection {
    /// Checks the URL and the database name before anything is sent.
    pub fn new(
        url: &str,
        database: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Connection, ClickHouseError> {
        let parsed = url::Url::parse(url).map_err(|e| ClickHouseError::Usage(format!("--clickhouse {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClickHouseError::Usage(format!(
                "--clickhouse {url:?}: ClickHouse's HTTP interface is http:// or https://"
            )));
        }
        if parsed.password().is_some() || !parsed.username().is_empty() {
            return Err(ClickHouseError::Usage(
                "--clickhouse: put no user or password in the URL (every user sees it in the process list); \
                 use --user and CLICKHOUSE_PASSWORD"
                    .into(),
            ));
        }
        if parsed.query().is_some() || !matches!(parsed.path(), "" | "/") {
            return Err(ClickHouseError::Usage(format!(
                "--clickhouse {url:?}: give the server only (http://host:8123), no path or query"
            )));
        }
        if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ClickHouseError::Usage(format!(
                "--database {database:?}: letters, digits and underscores only"
            )));
        }
        Ok(Connection { url: url.trim_end_matches('/').to_string(), database: database.to_string(), user, password })
    }
}

/// A blocking client for one server and database.
pub struct Client {
    conn: Connection,
    agent: ureq::Agent,
}

/// Queries longer than the server's default limit (256 KiB: long `IN` lists of matched
/// values) raise it for themselves; shorter ones send no setting, so a read-only user can run
/// them.
const DEFAULT_QUERY_LIMIT: usize = 256 * 1024;
const LONG_QUERY_LIMIT: &str = "67108864";

impl Client {
    pub fn new(conn: Connection) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Client { conn, agent }
    }

    pub fn server(&self) -> &str {
        &self.conn.url
    }

    pub fn database(&self) -> &str {
        &self.conn.database
    }

    /// Runs a statement that returns nothing worth reading (DDL).
    pub fn execute(&self, sql: &str) -> Result<(), ClickHouseError> {
        self.post(&[], sql.as_bytes()).map(|_| ())
    }

    /// Runs a query and returns its rows, each a list of values. Numbers may come back as JSON
    /// strings (64-bit integers do): read them with [`number`].
    pub fn select(&self, sql: &str) -> Result<Vec<Vec<Value>>, ClickHouseError> {
        let body = self.post(&[("database", &self.conn.database)], format!("{sql} FORMAT JSONCompact").as_bytes())?;
        let parsed: Value = serde_json::from_str(&body).map_err(|e| self.error(format!("unreadable answer: {e}")))?;
        match parsed.get("data") {
            Some(Value::Array(rows)) => Ok(rows
                .iter()
                .map(|r| match r {
                    Value::Array(values) => values.clone(),
                    other => vec![other.clone()],
                })
                .collect()),
            _ => Err(self.error("an answer without data".into())),
        }
    }

    /// Inserts rows given as `JSONEachRow` text (one JSON object a line) into `table`. One call
    /// is one insert: under a million rows, ClickHouse writes it whole or not at all.
    pub fn insert(&self, table: &str, rows: &[u8]) -> Result<(), ClickHouseError> {
        let query = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.post(&[("database", &self.conn.database), ("query", &query)], rows).map(|_| ())
    }

    /// Runs a query (its `FORMAT` included) and hands back its answer as a reader over the
    /// bytes as they arrive, for answers too large to hold whole (a load of millions of
    /// rows). A server that fails after it started answering writes its exception into the
    /// body: the reader's user must take a line it cannot read for the server's message.
    pub fn stream(&self, sql: &str) -> Result<impl std::io::BufRead + use<>, ClickHouseError> {
        let response = self.send(&[("database", &self.conn.database)], sql.as_bytes())?;
        if response.status().is_success() {
            return Ok(std::io::BufReader::with_capacity(1 << 20, response.into_body().into_reader()));
        }
        let text = response
            .into_body()
            .into_with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| self.error(format!("answer cut off: {e}")))?;
        Err(self.error(first_line(&text)))
    }

    fn post(&self, params: &[(&str, &str)], body: &[u8]) -> Result<String, ClickHouseError> {
        let mut response = self.send(params, body)?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| self.error(format!("answer cut off: {e}")))?;
        if status.is_success() { Ok(text) } else { Err(self.error(first_line(&text))) }
    }

    fn send(&self, params: &[(&str, &str)], body: &[u8]) -> Result<ureq::http::Response<ureq::Body>, ClickHouseError> {
        let mut request = self.agent.post(&format!("{}/", self.conn.url));
        if body.len() >= DEFAULT_QUERY_LIMIT && !params.iter().any(|(name, _)| *name == "query") {
            request = request.query("max_query_size", LONG_QUERY_LIMIT);
        }
        for (name, value) in params {
            request = request.query(*name, *value);
        }
        if let Some(user) = &self.conn.user {
            request = request.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.conn.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        request
            .send(body)
            .map_err(|e| ClickHouseError::Unreachable { server: self.conn.url.clone(), message: e.to_string() })
    }

    fn error(&self, message: String) -> ClickHouseError {
        ClickHouseError::Server { server: self.conn.url.clone(), message }
    }
}

/// The server's message without its stack trace and exception class noise.
pub fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(no message)").trim();
    let line = line.rsplit("DB::Exception: ").next().unwrap_or(line);
    let line = line.split(", e.what()").next().unwrap_or(line);
    line.split(" (version ").next().unwrap_or(line).to_string()
}

/// A number of a `JSONCompact` answer, whether written as a number or (64-bit integers) as a
/// string.
pub fn number(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A text value of a `JSONCompact` answer.
pub fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// `text` as a ClickHouse string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `t` as a `DateTime('UTC')` literal: the logs' local times are stored as UTC (see
/// [`super::schema`]).
pub fn datetime(t: chrono::NaiveDateTime) -> String {
    format!("toDateTime({}, 'UTC')", quote(&t.format("%Y-%m-%d %H:%M:%S").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_or_paths_are_refused() {
        let err = |url: &str| Connection::new(url, "prparser", None, None).expect_err(url).to_string();
        assert!(err("http://u:p@localhost:8123").contains("no user or password"));
        assert!(err("http://u@localhost:8123").contains("no user or password"));
        assert!(err("http://localhost:8123/x?database=y").contains("no path or query"));
        assert!(err("ftp://localhost").contains("http://"));
        let bad_db = Connection::new("http://localhost:8123", "a;DROP", None, None).expect_err("db");
        assert!(bad_db.to_string().contains("letters, digits"));
        let ok = Connection::new("http://localhost:8123/", "prparser_1", None, None).expect("ok");
        assert_eq!(ok.url, "http://localhost:8123");
    }

    #[test]
    fn literals_escape_quotes_backslashes_and_line_breaks() {
        assert_eq!(quote("a'b\\c\nd"), "'a\\'b\\\\c\\nd'");
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(number(&Value::from(7)), 7);
        assert_eq!(number(&Value::from("18446744073709551615")), u64::MAX);
    }

    #[test]
    fn server_messages_lose_their_noise() {
        let msg =
            "Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception\n";
        assert_eq!(first_line(msg), "Wrong password for user default");
        let current =
            "Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED) (version 24.8.1)";
        assert_eq!(first_line(current), "default: Authentication failed. (AUTHENTICATION_FAILED)");
    }
}
