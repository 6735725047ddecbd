//! Per-log tables of repeated values: module names and user contexts repeat on almost
//! every row, and so do addresses, so rows hold 4-byte ids instead.

use rustc_hash::FxHashMap;

use crate::model::{AddrId, Address, Symbol};

/// Strings by [`Symbol`]; symbol 0 is the empty string.
#[derive(Debug, Clone)]
pub struct Interner {
    strings: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, Symbol>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut ids = FxHashMap::default();
        ids.insert(Box::<str>::from(""), Symbol::EMPTY);
        Interner { strings: vec![Box::from("")], ids }
    }
}

impl Interner {
    pub fn intern(&mut self, text: &str) -> Symbol {
        if let Some(&sym) = self.ids.get(text) {
            return sym;
        }
        let sym = Symbol(self.strings.len() as u32);
        self.strings.push(Box::from(text));
        self.ids.insert(Box::from(text), sym);
        sym
    }

    /// The string of a symbol; the empty string for an id this table never issued.
    pub fn resolve(&self, sym: Symbol) -> &str {
        self.strings.get(sym.0 as usize).map_or("", |s| s)
    }

    pub fn lookup(&self, text: &str) -> Option<Symbol> {
        self.ids.get(text).copied()
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.len() <= 1
    }

    /// Every symbol with its string, symbol 0 included.
    pub fn iter(&self) -> impl Iterator<Item = (Symbol, &str)> {
        self.strings.iter().enumerate().map(|(i, s)| (Symbol(i as u32), &**s))
    }
}

/// Addresses by [`AddrId`]; id 0 is [`Address::Empty`].
#[derive(Debug, Clone)]
pub struct AddrTable {
    addrs: Vec<Address>,
    ids: FxHashMap<Address, AddrId>,
}

impl Default for AddrTable {
    fn default() -> Self {
        let mut ids = FxHashMap::default();
        ids.insert(Address::Empty, AddrId(0));
        AddrTable { addrs: vec![Address::Empty], ids }
    }
}

impl AddrTable {
    pub fn intern(&mut self, addr: Address) -> AddrId {
        *self.ids.entry(addr).or_insert_with(|| {
            self.addrs.push(addr);
            AddrId(self.addrs.len() as u32 - 1)
        })
    }

    pub fn resolve(&self, id: AddrId) -> Address {
        self.addrs.get(id.0 as usize).copied().unwrap_or(Address::Empty)
    }

    pub fn lookup(&self, addr: Address) -> Option<AddrId> {
        self.ids.get(&addr).copied()
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.len() <= 1
    }

    pub fn iter(&self) -> impl Iterator<Item = (AddrId, Address)> + '_ {
        self.addrs.iter().enumerate().map(|(i, a)| (AddrId(i as u32), *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_zero_is_empty() {
        let mut i = Interner::default();
        assert_eq!(i.intern(""), Symbol::EMPTY);
        let a = i.intern("svchost.exe");
        let b = i.intern("System");
        assert_eq!(i.intern("svchost.exe"), a);
        assert_ne!(a, b);
        assert_eq!(i.resolve(a), "svchost.exe");
        assert_eq!(i.resolve(Symbol(999)), "");
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn addresses_intern_by_value() {
        let mut t = AddrTable::default();
        let ip = Address::Ip("10.0.0.1".parse().expect("ip"));
        let a = t.intern(ip);
        assert_eq!(t.intern(ip), a);
        assert_eq!(t.intern(Address::Empty), AddrId(0));
        assert_eq!(t.resolve(a), ip);
        assert_eq!(t.lookup(Address::Any), None);
    }
}
