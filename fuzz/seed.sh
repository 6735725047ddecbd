#!/usr/bin/env bash
# Seeds each fuzz target's corpus with the sample logs (and small hand-made inputs).
set -euo pipefail
cd "$(dirname "$0")"
samples=../sample-logs
mkdir -p corpus/ports corpus/pids corpus/initial corpus/criteria corpus/partners
cp "$samples"/*/PR-PORTS-*.log corpus/ports/
cp "$samples"/*/PR-PIDS-*.log corpus/pids/
cp "$samples"/*/PR-INITIAL-*.log corpus/initial/
for f in "$samples"/*/PR-PORTS-*.log; do head -c 400 "$f" > "corpus/partners/$(basename "$f")"; done
printf 'Port Reporter Version 1.01 Log File - Port usage log\r\nCheck ../PR-PIDS-08-06-30-10-17-54.log for corresponding process data\r\n' > corpus/partners/dotdot
printf 'Check /etc/PR-PIDS-08-06-30-10-17-54.log for corresponding process data\n' > corpus/partners/absolute
cat > corpus/criteria/all-kinds.json <<'JSON'
{"criteria": [
 {"name": "m", "field": "module", "match": "wildcard", "pattern": "svc*.exe"},
 {"name": "u", "field": "user", "match": "regex", "pattern": "(?i)corp\\\\b.b"},
 {"name": "ip", "field": "ip", "match": "cidr", "pattern": "2001:db8::/32"},
 {"name": "rip", "field": "remote_ip", "match": "exact", "pattern": "203.0.113.66"},
 {"name": "p", "field": "port", "match": "range", "pattern": "135-139,6667"},
 {"name": "lp", "field": "local_port", "match": "exact", "pattern": "1447"},
 {"name": "mp", "field": "module_path", "match": "wildcard", "pattern": "*ircbot*"},
 {"name": "h", "field": "host_name", "match": "exact", "pattern": "x", "enabled": false}
]}
JSON
echo '[{"name": "r", "field": "remote_port", "match": "regex", "pattern": "^6+$"}]' > corpus/criteria/bare-list.json
# Criteria JSON, a NUL byte, then the address list every list criterion reads.
printf '%s\0%s' '[{"name": "bad", "field": "ip", "match": "list", "pattern": "bad.netset"},
 {"name": "p", "field": "port", "match": "range", "pattern": "80,443,6667"},
 {"name": "ok", "field": "user", "pattern": "CORP\\bob", "effect": "allow"}]' \
    $'# list\n203.0.113.0/24 ; SBL1\n2001:db8::1\t3\n1.2.3.4-1.2.3.9\n' > corpus/criteria/list-and-allow
