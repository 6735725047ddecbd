//! What criteria read: the values a row or an INITIAL mapping offers, and the tables of
//! distinct values the bulk evaluation walks instead of the rows.
//!
//! A [`Field`](super::Field) names one or two [`Source`]s (its spec, in `criteria.rs`); this
//! module says where each source's value lives. A new field over existing sources is a line of
//! its spec; a new source is a variant here with its table, its id in a row and its value in
//! an [`Offer`].

use std::borrow::Cow;

use crate::analysis::dns::HostNames;
use crate::analysis::index::{BlockId, NO_BLOCK, PidsIndex};
use crate::intern::{AddrTable, Interner};
use crate::logs::computers::ComputerTable;
use crate::logs::ports::PortsSource;
use crate::logs::set::LogSet;
use crate::model::{AddrId, Address, PortEvent, PortMapping, ProcessBlock, Symbol};

/// Where the ids of a log's rows are resolved: its tables of names and addresses, the PIDS
/// blocks of its set, and host names. A loaded set gives one ([`Context::lookup`]); so does a
/// log read a block at a time, whose tables only grow.
///
/// [`Context::lookup`]: super::Context::lookup
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    pub modules: &'a Interner,
    pub users: &'a Interner,
    pub addrs: &'a AddrTable,
    /// The log's files, each naming its computer in `computers`.
    pub files: &'a [PortsSource],
    pub computers: &'a ComputerTable,
    /// The set holding the blocks that rows' block ids name, and its index; `None` when no
    /// PIDS blocks are known (module paths then match nothing).
    pub blocks: Option<(&'a LogSet, &'a PidsIndex)>,
    pub hosts: &'a dyn HostNames,
}

/// One value of a row that criteria read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Module,
    User,
    LocalIp,
    RemoteIp,
    LocalPort,
    RemotePort,
    /// The row's PIDS block (its module paths).
    Block,
    /// The row's computer, read through its file (rows name their file, files their computer).
    Computer,
}

/// Sources, the size of per-source arrays.
pub(super) const SOURCES: usize = 8;

/// Port numbers, the size of a port table.
pub(super) const PORT_VALUES: usize = 1 << 16;

/// The id of "no value" (a `*` or empty remote port, a row without a PIDS block): past the
/// end of every table, so it never matches.
pub(super) const NONE: usize = usize::MAX;

impl Source {
    pub(super) const ALL: [Source; SOURCES] = [
        Source::Module,
        Source::User,
        Source::LocalIp,
        Source::RemoteIp,
        Source::LocalPort,
        Source::RemotePort,
        Source::Block,
        Source::Computer,
    ];

    /// The table the source's ids index. Sources sharing a table can be read by one field
    /// (local or remote).
    pub(super) fn table(self) -> Table {
        match self {
            Source::Module => Table::Modules,
            Source::User => Table::Users,
            Source::LocalIp | Source::RemoteIp => Table::Addrs,
            Source::LocalPort | Source::RemotePort => Table::Ports,
            Source::Block => Table::Blocks,
            Source::Computer => Table::Files,
        }
    }

    /// The id of the row's value in [`Source::table`] ([`NONE`] for none), for sources the
    /// row holds itself: the block lives beside the rows ([`Source::row_id`]).
    #[inline(always)]
    pub(super) fn event_id(self, e: &PortEvent) -> usize {
        match self {
            Source::Module => e.module.0 as usize,
            Source::User => e.user.0 as usize,
            Source::LocalIp => e.local_ip.0 as usize,
            Source::RemoteIp => e.remote_ip.0 as usize,
            Source::LocalPort => usize::from(e.local_port),
            Source::RemotePort => e.remote_port().num().map_or(NONE, usize::from),
            Source::Block => NONE,
            Source::Computer => usize::from(e.source),
        }
    }

    /// [`Source::event_id`] for any source, given the row's block.
    pub(super) fn row_id(self, e: &PortEvent, block: BlockId) -> usize {
        match self {
            Source::Block if block == NO_BLOCK => NONE,
            Source::Block => block as usize,
            _ => self.event_id(e),
        }
    }
}

/// Where the distinct values of sources live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Modules,
    Users,
    Addrs,
    Ports,
    Blocks,
    /// The log's files; a file's value is the name of its computer.
    Files,
}

impl Table {
    /// Ids run from 0 to this.
    pub(super) fn len(self, lookup: &Lookup<'_>) -> usize {
        match self {
            Table::Modules => lookup.modules.len(),
            Table::Users => lookup.users.len(),
            Table::Addrs => lookup.addrs.len(),
            Table::Ports => PORT_VALUES,
            Table::Blocks => lookup.blocks.map_or(0, |(_, index)| index.len()),
            Table::Files => lookup.files.len(),
        }
    }

    /// The value of one id.
    pub(super) fn value<'a>(self, lookup: &Lookup<'a>, id: usize) -> Value<'a> {
        let id32 = u32::try_from(id).unwrap_or(u32::MAX);
        match self {
            Table::Modules => Value::Text(Cow::Borrowed(lookup.modules.resolve(Symbol(id32)))),
            Table::Users => Value::Text(Cow::Borrowed(lookup.users.resolve(Symbol(id32)))),
            Table::Addrs => Value::Addr(lookup.addrs.resolve(AddrId(id32))),
            Table::Ports => Value::Port(u16::try_from(id).ok()),
            Table::Blocks => Value::Block(lookup.blocks.and_then(|(set, index)| index.block(set, id32))),
            Table::Files => Value::Text(Cow::Borrowed(lookup.computer_of_file(id))),
        }
    }
}

/// One value as criteria test it. Empty text (a row without a user) never matches.
#[derive(Debug, Clone)]
pub(super) enum Value<'a> {
    Text(Cow<'a, str>),
    Addr(Address),
    Port(Option<u16>),
    Block(Option<&'a ProcessBlock>),
}

/// The values a row or an INITIAL mapping offers to criteria, one per [`Source`].
#[derive(Debug, Clone)]
pub(super) struct Offer<'a> {
    module: &'a str,
    user: &'a str,
    local_ip: Address,
    remote_ip: Address,
    local_port: u16,
    remote_port: Option<u16>,
    block: Option<&'a ProcessBlock>,
    computer: &'a str,
}

impl<'a> Lookup<'a> {
    /// The name of the computer of file `id` (`""` for a file past the end).
    fn computer_of_file(&self, id: usize) -> &'a str {
        self.files.get(id).map_or("", |f| self.computers.name(f.computer))
    }
}

impl<'a> Offer<'a> {
    /// A row whose ids `lookup` resolves, with its PIDS block.
    pub(super) fn of_row(lookup: &Lookup<'a>, e: &PortEvent, block: BlockId) -> Offer<'a> {
        Offer {
            module: lookup.modules.resolve(e.module),
            user: lookup.users.resolve(e.user),
            local_ip: lookup.addrs.resolve(e.local_ip),
            remote_ip: lookup.addrs.resolve(e.remote_ip),
            local_port: e.local_port,
            remote_port: e.remote_port().num(),
            block: lookup.blocks.and_then(|(set, index)| index.block(set, block)),
            computer: lookup.computer_of_file(usize::from(e.source)),
        }
    }

    /// A PR-INITIAL mapping of `computer`, with its process's block in the same log (for
    /// module paths and the user, and the name when the mapping table gave none).
    pub(super) fn of_mapping(
        mapping: &'a PortMapping,
        block: Option<&'a ProcessBlock>,
        computer: &'a str,
    ) -> Offer<'a> {
        Offer {
            module: mapping.process.as_deref().or(block.map(|b| b.process.as_str())).unwrap_or(""),
            user: block.and_then(|b| b.user.as_deref()).unwrap_or(""),
            local_ip: mapping.local_ip,
            remote_ip: mapping.remote_ip,
            local_port: mapping.local_port,
            remote_port: mapping.remote_port.num(),
            block,
            computer,
        }
    }

    pub(super) fn value(&self, source: Source) -> Value<'a> {
        match source {
            Source::Module => Value::Text(Cow::Borrowed(self.module)),
            Source::User => Value::Text(Cow::Borrowed(self.user)),
            Source::LocalIp => Value::Addr(self.local_ip),
            Source::RemoteIp => Value::Addr(self.remote_ip),
            Source::LocalPort => Value::Port(Some(self.local_port)),
            Source::RemotePort => Value::Port(self.remote_port),
            Source::Block => Value::Block(self.block),
            Source::Computer => Value::Text(Cow::Borrowed(self.computer)),
        }
    }
}
