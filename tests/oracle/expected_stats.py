#!/usr/bin/env python3
"""Independent oracle for the prparser statistics over PR-PORTS logs.

Python 3 standard library only, and deliberately simple: it shares no code or logic with the Rust
implementation and is the reference the Rust integration tests are compared against.

Usage:
    expected_stats.py PATH          # PATH: a folder (searched recursively for PR-PORTS-*.log) or one file
    expected_stats.py PATH -o OUT   # write the JSON to OUT instead of stdout

Rules (see sample-logs/README.md for the files):
  * Encoding: a BOM decides (UTF-16LE FF FE, UTF-16BE FE FF, UTF-8 EF BB BF); without a BOM, NUL bytes in
    odd positions mean UTF-16LE; otherwise UTF-8 if it decodes, else Windows-1252.
  * Lines end in LF or CRLF; the last line may lack its newline (a truncated row is then just malformed).
  * Header lines are skipped wherever they appear (a file may hold a second copy of the header):
      Port Reporter Version <v> Log File - Port usage log
      Check PR-PIDS-<stamp>.log for corresponding process data
      Log format:
      date,time,protocol,local port,local IP address,remote port,remote IP address[,PID,module,user context]
  * Blank lines are skipped. Every other line is a row or is malformed.
  * A row is one CSV record (RFC 4180 quoting, csv module, strict) of 7, 9 or 10 fields:
      7  date,time,protocol,local port,local IP,remote port,remote IP            (Windows 2000)
      9  ... ,PID,module                      (user context missing together with its comma)
      10 ... ,PID,module,user context         (user context '<...>' or empty)
    date yy/m/d (1 or 2 digits each, a real date; year 2000+yy below 70, else 1900+yy),
    time h:m:s (1 or 2 digits each, h<24, m<60, s<60), protocol TCP or UDP,
    local port 0..65535, local IP an IPv4/IPv6 address,
    remote port empty, '*' or 0..65535, remote IP '*' or an IPv4/IPv6 address,
    PID digits, module not empty.
  * Views (each list sorted by count descending, then key ascending: ports and hours numerically,
    strings by code point), percent = round(100 * count / denominator, 2):
      local_tcp_port_usage  TCP rows by local port;             denominator: all TCP rows
      process_usage         rows by module (7-field rows out);  denominator: rows with a module
      remote_ip_usage       rows by remote IP as written, without '*', '', '0.0.0.0', '::';
                            denominator: rows with such a specific remote IP
      user_context_usage    rows by user context, '<' '>' stripped, rows without one out;
                            denominator: rows with a user context
      port_usage_by_hour    all rows by hour of the row's time, all 24 hours (zeros too);
                            denominator: all rows
"""
import argparse
import csv
import datetime
import ipaddress
import json
import os
import re
import sys

FORMAT_10 = 'date,time,protocol,local port,local ip address,remote port,remote ip address,pid,module,user context'
FORMAT_7 = 'date,time,protocol,local port,local ip address,remote port,remote ip address'
RE_TITLE = re.compile(r'Port Reporter Version \S+ Log File - Port usage log', re.IGNORECASE)
RE_CHECK = re.compile(r'Check PR-PIDS-\S+\.log for corresponding process data', re.IGNORECASE)
RE_DATE = re.compile(r'([0-9]{1,2})/([0-9]{1,2})/([0-9]{1,2})')
RE_TIME = re.compile(r'([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})')
RE_PORT = re.compile(r'[0-9]{1,5}')
RE_PORTS_FILE = re.compile(r'PR-PORTS-.*\.log', re.IGNORECASE)
NO_SPECIFIC_IP = ('*', '', '0.0.0.0', '::')


def decode(data):
    if data.startswith(b'\xff\xfe'):
        return data[2:].decode('utf-16-le')
    if data.startswith(b'\xfe\xff'):
        return data[2:].decode('utf-16-be')
    if data.startswith(b'\xef\xbb\xbf'):
        return data[3:].decode('utf-8')
    head = data[:200]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return data.decode('utf-16-le')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return data.decode('cp1252', errors='replace')


def is_header(line):
    s = line.strip()
    if RE_TITLE.fullmatch(s) or RE_CHECK.fullmatch(s):
        return True
    low = s.lower()
    return low == 'log format:' or low == FORMAT_10 or low == FORMAT_7


def valid_port(s):
    return RE_PORT.fullmatch(s) is not None and int(s) <= 65535


def valid_ip(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def parse_row(line):
    """Return a dict for a valid row, or None."""
    try:
        fields = next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        return None
    if len(fields) not in (7, 9, 10):
        return None
    date, time, proto, lport, lip, rport, rip = fields[:7]
    m = RE_DATE.fullmatch(date)
    if not m:
        return None
    yy, mo, dd = (int(x) for x in m.groups())
    year = 2000 + yy if yy < 70 else 1900 + yy
    try:
        day = datetime.date(year, mo, dd)
    except ValueError:
        return None
    m = RE_TIME.fullmatch(time)
    if not m:
        return None
    hh, mi, ss = (int(x) for x in m.groups())
    if hh > 23 or mi > 59 or ss > 59:
        return None
    if proto not in ('TCP', 'UDP'):
        return None
    if not valid_port(lport) or not valid_ip(lip):
        return None
    if not (rport in ('', '*') or valid_port(rport)):
        return None
    if not (rip == '*' or valid_ip(rip)):
        return None
    row = {
        'ts': datetime.datetime(day.year, day.month, day.day, hh, mi, ss),
        'proto': proto, 'lport': int(lport), 'rip': rip, 'module': None, 'user': None,
    }
    if len(fields) >= 9:
        pid, module = fields[7], fields[8]
        if re.fullmatch(r'[0-9]+', pid) is None or module == '':
            return None
        row['module'] = module
        if len(fields) == 10:
            user = fields[9]
            if user.startswith('<') and user.endswith('>') and len(user) >= 2:
                user = user[1:-1]
            row['user'] = user if user != '' else None
    return row


def read_file(path):
    with open(path, 'rb') as fh:
        text = decode(fh.read())
    rows, bad = [], []
    for no, line in enumerate(text.split('\n'), 1):
        if line.endswith('\r'):
            line = line[:-1]
        if line.strip() == '' or is_header(line):
            continue
        row = parse_row(line)
        if row is None:
            bad.append((no, line))
        else:
            rows.append(row)
    return rows, bad


def view(counts, denominator, key_name):
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for key, count in items:
        pct = round(100 * count / denominator, 2) if denominator else 0.0
        out.append({key_name: key, 'count': count, 'percent': pct})
    return out


def tally(rows, key):
    counts = {}
    for r in rows:
        k = key(r)
        counts[k] = counts.get(k, 0) + 1
    return counts


def find_files(root):
    if os.path.isfile(root):
        return [(os.path.basename(root), root)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if RE_PORTS_FILE.fullmatch(name):
                full = os.path.join(dirpath, name)
                found.append((os.path.relpath(full, root).replace(os.sep, '/'), full))
    return sorted(found)


def stats(root):
    all_rows, files, malformed_lines = [], [], []
    for rel, full in find_files(root):
        rows, bad = read_file(full)
        all_rows += rows
        files.append({'file': rel, 'rows': len(rows), 'malformed': len(bad)})
        malformed_lines += [{'file': rel, 'line': no, 'text': text} for no, text in bad]

    tcp = [r for r in all_rows if r['proto'] == 'TCP']
    with_module = [r for r in all_rows if r['module'] is not None]
    with_ip = [r for r in all_rows if r['rip'] not in NO_SPECIFIC_IP]
    with_user = [r for r in all_rows if r['user'] is not None]
    by_hour = {h: 0 for h in range(24)}
    for r in all_rows:
        by_hour[r['ts'].hour] += 1

    stamps = [r['ts'] for r in all_rows]
    return {
        'rows': len(all_rows),
        'malformed': len(malformed_lines),
        'first_timestamp': min(stamps).isoformat() if stamps else None,
        'last_timestamp': max(stamps).isoformat() if stamps else None,
        'denominators': {
            'local_tcp_port_usage': len(tcp),
            'process_usage': len(with_module),
            'remote_ip_usage': len(with_ip),
            'user_context_usage': len(with_user),
            'port_usage_by_hour': len(all_rows),
        },
        'local_tcp_port_usage': view(tally(tcp, lambda r: r['lport']), len(tcp), 'port'),
        'process_usage': view(tally(with_module, lambda r: r['module']), len(with_module), 'module'),
        'remote_ip_usage': view(tally(with_ip, lambda r: r['rip']), len(with_ip), 'ip'),
        'user_context_usage': view(tally(with_user, lambda r: r['user']), len(with_user), 'user'),
        'port_usage_by_hour': view(by_hour, len(all_rows), 'hour'),
        'files': files,
        'malformed_lines': malformed_lines,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('path', help='folder (recursive) or one PR-PORTS file')
    ap.add_argument('-o', '--out', help='write JSON here instead of stdout')
    args = ap.parse_args(argv)
    if not os.path.exists(args.path):
        ap.error('no such file or folder: %s' % args.path)
    text = json.dumps(stats(args.path), indent=2, ensure_ascii=False) + '\n'
    if args.out:
        with open(args.out, 'w', encoding='utf-8', newline='\n') as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
