//! What is a listener, in a PORTS row and in a port table, and the Windows XP quirk that makes
//! some "listening" rows part of an outgoing connection instead.
//!
//! A listener is a port-table entry in state LISTENING, a PORTS row (which has no state) whose
//! remote address is unspecified (`0.0.0.0`, `::`), or a UDP row or entry with no peer (`*`).
//!
//! Windows XP shows every outgoing TCP connection twice: the connection itself and a
//! "listening" `0.0.0.0` entry with the same local port and PID and a random remote port (KB
//! 837243's samples: `8:52:21,TCP,4873,0.0.0.0,45070,0.0.0.0,664,iexplore.exe` beside
//! `8:52:21,TCP,4873,169.254.66.8,80,63.208.107.43,664,iexplore.exe`). Such an entry is part
//! of the connection, not a listener. In a snapshot it stands beside the connection's entry;
//! in the PORTS log the connection's row follows in the same second or a few seconds later
//! (the samples show gaps of up to 3 s: `22:04:37` then `22:04:40`), so a listening row is
//! taken for the quirk when a connection row of the same computer, local port and PID comes
//! within [`QUIRK_SECONDS`] after it (or earlier in the same second). Version 1.01 writes a
//! real listener's remote port empty (`3389,0.0.0.0,,0.0.0.0`), never the quirk's random one,
//! so a row or entry with an empty remote port is always a listener.

use std::collections::VecDeque;

use chrono::{NaiveDateTime, TimeDelta};
use rustc_hash::FxHashMap;

use crate::model::{Address, PortField, PortMapping, Protocol, TcpState};

/// How long after a quirk row its connection's row may come.
pub const QUIRK_SECONDS: i64 = 3;

/// Whether a row or entry with this protocol and remote side may be a listener.
pub fn may_listen(protocol: Protocol, remote_ip: Address) -> bool {
    match protocol {
        Protocol::Udp => !remote_ip.is_specific(),
        Protocol::Tcp => matches!(remote_ip, Address::Ip(ip) if ip.is_unspecified()),
    }
}

/// Whether a listening-looking TCP row or entry could be the XP quirk: only the quirk writes
/// a random remote port beside an unspecified remote address.
fn may_be_quirk(protocol: Protocol, remote_port: PortField) -> bool {
    protocol == Protocol::Tcp && matches!(remote_port, PortField::Num(n) if n != 0)
}

/// Whether a TCP row or entry is a connection to a real peer (what a quirk row pairs with).
fn is_connection(protocol: Protocol, remote_ip: Address) -> bool {
    protocol == Protocol::Tcp && remote_ip.is_specific()
}

/// The listeners of one port table (a snapshot's mapping table, a PIDS block's ports): the
/// indices of its entries that listen, the XP quirk's entries left out.
pub fn table_listeners(entries: &[PortMapping]) -> Vec<usize> {
    let connected = |e: &PortMapping| {
        entries.iter().any(|c| c.pid == e.pid && c.local_port == e.local_port && is_connection(c.protocol, c.remote_ip))
    };
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| match e.protocol {
            Protocol::Udp => may_listen(Protocol::Udp, e.remote_ip),
            Protocol::Tcp => {
                e.state == Some(TcpState::Listening)
                    && !(may_be_quirk(e.protocol, e.remote_port) && !e.remote_ip.is_specific() && connected(e))
            }
        })
        .map(|(i, _)| i)
        .collect()
}

/// What the pairing knows of a row: where it came from (computer, local port, PID) and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Socket {
    pub computer: u32,
    pub port: u16,
    pub pid: u32,
}

/// Decides, over each computer's rows in time order (as its logs' files are written), which
/// listening-looking TCP rows are the XP quirk. A row that may be the quirk waits, with what
/// the caller wants back (`T`), until a connection row pairs it (it is dropped) or
/// [`QUIRK_SECONDS`] of its computer's later rows pass without one (it is a listener, handed
/// back by [`Pairing::row`] or [`Pairing::finish`]). Each computer has its own clock: in a
/// folder of several machines, files are read in the order of their stamps, so another
/// computer's file may come between a quirk row at 23:59:58 and its connection in the file
/// started at midnight. What waits is bounded by the rows of a few seconds per computer: when
/// a computer's time goes back (an older file of it), what it had waiting is handed back.
#[derive(Debug)]
pub struct Pairing<T> {
    /// By the computer's id (ids are small and dense: the scanner's interned names).
    clocks: Vec<Clock<T>>,
}

/// One computer's pairing.
#[derive(Debug)]
struct Clock<T> {
    waiting: FxHashMap<Socket, Vec<(NaiveDateTime, T)>>,
    /// Sockets in the order their rows started waiting, to let them go in time.
    order: VecDeque<(NaiveDateTime, Socket)>,
    /// The time of the row read last.
    this_second: Option<NaiveDateTime>,
    /// Connections of the second being read, for a quirk row written after its connection:
    /// pushed for every connection row, searched only for the few quirk-like rows.
    connected: Vec<Socket>,
}

impl<T> Default for Pairing<T> {
    fn default() -> Self {
        Pairing { clocks: Vec::new() }
    }
}

impl<T> Default for Clock<T> {
    fn default() -> Self {
        Clock { waiting: FxHashMap::default(), order: VecDeque::new(), this_second: None, connected: Vec::new() }
    }
}

/// What a row is to the pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A listening-looking row that may be the quirk (waits for its connection).
    MaybeQuirk,
    /// A row that is a listener whatever follows.
    Listener,
    /// A TCP connection to a real peer.
    Connection,
    /// Anything else.
    Other,
}

impl RowKind {
    pub fn of(protocol: Protocol, remote_ip: Address, remote_port: PortField, pid: Option<u32>) -> RowKind {
        if may_listen(protocol, remote_ip) {
            if pid.is_some() && may_be_quirk(protocol, remote_port) { RowKind::MaybeQuirk } else { RowKind::Listener }
        } else if is_connection(protocol, remote_ip) && pid.is_some() {
            RowKind::Connection
        } else {
            RowKind::Other
        }
    }
}

impl<T> Pairing<T> {
    /// Takes the next row (`kind` from [`RowKind::of`]); `listener` is what to hand back if
    /// it turns out a listener. Calls `done` with every waiting row now known to be one.
    pub fn row(&mut self, time: NaiveDateTime, socket: Socket, kind: RowKind, listener: T, done: &mut impl FnMut(T)) {
        self.row_or_pass(time, socket, kind, Some(listener), done);
    }

    /// [`Pairing::row`], where `listener` may be `None` for a row that is no listener
    /// ([`RowKind::Connection`], [`RowKind::Other`]): most rows, which then cost the caller
    /// nothing to describe. A [`RowKind::Other`] row changes nothing (its `socket` need not
    /// name its computer): it neither pairs nor waits, and a computer's clock moves on with
    /// its next row of another kind just as well.
    #[inline]
    pub fn row_or_pass(
        &mut self,
        time: NaiveDateTime,
        socket: Socket,
        kind: RowKind,
        listener: Option<T>,
        done: &mut impl FnMut(T),
    ) {
        match kind {
            RowKind::Other => {}
            RowKind::Listener => listener.into_iter().for_each(done),
            RowKind::MaybeQuirk | RowKind::Connection => {
                self.clock(socket.computer).row(time, socket, kind, listener, done)
            }
        }
    }

    fn clock(&mut self, computer: u32) -> &mut Clock<T> {
        let at = computer as usize;
        if self.clocks.len() <= at {
            self.clocks.resize_with(at + 1, Clock::default);
        }
        &mut self.clocks[at]
    }

    /// Hands back every row still waiting: the logs ended without their connections.
    pub fn finish(self, done: &mut impl FnMut(T)) {
        for mut clock in self.clocks {
            clock.release_all(done);
        }
    }
}

impl<T> Clock<T> {
    /// [`Pairing::row_or_pass`] for a quirk-like or connection row of this computer.
    #[inline]
    fn row(
        &mut self,
        time: NaiveDateTime,
        socket: Socket,
        kind: RowKind,
        listener: Option<T>,
        done: &mut impl FnMut(T),
    ) {
        // Time arithmetic only when time went back at all (rare): most rows compare equal or
        // later, and adding seconds to a date-time costs more than the rest of a row here.
        if self.this_second.is_some_and(|last| time < last && time + TimeDelta::seconds(QUIRK_SECONDS) < last) {
            // Time went back: an older file of this computer began, so no row of the one
            // before can come to pair with what waits.
            self.release_all(done);
        }
        self.let_go(time, done);
        if self.this_second != Some(time) {
            self.this_second = Some(time);
            self.connected.clear();
        }
        if kind == RowKind::Connection {
            self.connected.push(socket);
            if !self.waiting.is_empty()
                && let Some(list) = self.waiting.get_mut(&socket)
            {
                list.retain(|(t, _)| !(*t <= time && time - *t <= TimeDelta::seconds(QUIRK_SECONDS)));
                if list.is_empty() {
                    self.waiting.remove(&socket);
                }
            }
        } else if let Some(listener) = listener
            && !self.connected.contains(&socket)
        {
            self.waiting.entry(socket).or_default().push((time, listener));
            self.order.push_back((time, socket));
        }
    }

    /// Hands back the waiting rows no connection can pair any more, now that rows of `now`
    /// are read.
    fn let_go(&mut self, now: NaiveDateTime, done: &mut impl FnMut(T)) {
        while let Some(&(t, socket)) = self.order.front() {
            if now - t <= TimeDelta::seconds(QUIRK_SECONDS) {
                break;
            }
            self.order.pop_front();
            if let Some(list) = self.waiting.get_mut(&socket) {
                let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(list).into_iter().partition(|(w, _)| *w <= t);
                *list = kept;
                gone.into_iter().for_each(|(_, l)| done(l));
                if list.is_empty() {
                    self.waiting.remove(&socket);
                }
            }
        }
    }

    fn release_all(&mut self, done: &mut impl FnMut(T)) {
        let mut rest: Vec<(NaiveDateTime, T)> = self.waiting.drain().flat_map(|(_, l)| l).collect();
        rest.sort_by_key(|(t, _)| *t);
        rest.into_iter().for_each(|(_, l)| done(l));
        self.order.clear();
    }
}
