//! Loaded modules from `/proc/PID/maps`: every file mapped executable (the program and its
//! shared objects), with the lowest address it is mapped at, which is its load base — the
//! Linux counterpart of the original's `path (0xBASE)` lines.

use std::io;
use std::path::Path;

use rustc_hash::FxHashMap;

use crate::model::{LoadedModule, Modules};

/// The modules of the process whose `/proc` folder is `base`: `None` when the process is gone,
/// [`Modules::NotAccessible`] when we may not read its mappings.
///
/// The listing is read as bytes: a mapped file's path may be any bytes, and one that is not
/// UTF-8 must not cost the process its whole list (such a path is shown with U+FFFD).
pub fn read(base: &Path, exe: Option<&str>) -> Option<Modules> {
    match std::fs::read(base.join("maps")) {
        Ok(raw) => Some(Modules::Listed(parse_maps(&String::from_utf8_lossy(&raw), exe))),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => None,
        Err(_) => Some(Modules::NotAccessible),
    }
}

/// The executable mapped files of a maps listing, in address order, with the program itself
/// (`exe`) first, as the original listed the image before its DLLs.
pub fn parse_maps(text: &str, exe: Option<&str>) -> Vec<LoadedModule> {
    let mut modules: Vec<(LoadedModule, bool)> = Vec::new();
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    for line in text.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(_offset), Some(_dev), Some(_inode), Some(path)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_start();
        let Some(start) = range.split_once('-').and_then(|(s, _)| u64::from_str_radix(s, 16).ok()) else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        let executable = perms.as_bytes().get(2) == Some(&b'x');
        match index.get(path) {
            Some(&i) => {
                let (module, exec) = &mut modules[i];
                module.base = module.base.min(Some(start));
                *exec |= executable;
            }
            None => {
                index.insert(path, modules.len());
                modules.push((LoadedModule { path: path.to_string(), base: Some(start) }, executable));
            }
        }
    }
    let mut list: Vec<LoadedModule> = modules.into_iter().filter(|(_, exec)| *exec).map(|(m, _)| m).collect();
    if let Some(exe) = exe
        && let Some(at) = list.iter().position(|m| m.path == exe)
    {
        let program = list.remove(at);
        list.insert(0, program);
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/cat
55d0c0a02000-55d0c0a06000 r-xp 00002000 08:01 1234                       /usr/bin/cat
55d0c0a0a000-55d0c0a2b000 rw-p 00000000 00:00 0                          [heap]
7f1c2a000000-7f1c2a028000 r--p 00000000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2a028000-7f1c2a1bd000 r-xp 00028000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2a300000-7f1c2a400000 r--p 00000000 08:01 9999                       /usr/lib/locale/locale-archive
7f1c2a500000-7f1c2a501000 r-xp 00000000 08:01 4321                       /opt/my app/lib plug.so (deleted)
7ffd1b3f0000-7ffd1b3f2000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn executable_files_with_their_load_base_program_first() {
        let list = parse_maps(MAPS, Some("/usr/bin/cat"));
        let got: Vec<(&str, Option<u64>)> = list.iter().map(|m| (m.path.as_str(), m.base)).collect();
        assert_eq!(
            got,
            vec![
                ("/usr/bin/cat", Some(0x55d0_c0a0_0000)),
                ("/usr/lib/x86_64-linux-gnu/libc.so.6", Some(0x7f1c_2a00_0000)),
                ("/opt/my app/lib plug.so (deleted)", Some(0x7f1c_2a50_0000)),
            ]
        );
    }

    #[test]
    fn the_program_moves_first_when_mapped_high() {
        let text = "7f00-7f10 r-xp 0 0:0 1 /lib/a.so\n8f00-8f10 r-xp 0 0:0 2 /bin/prog\n";
        let list = parse_maps(text, Some("/bin/prog"));
        assert_eq!(list[0].path, "/bin/prog");
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn our_own_modules_and_a_missing_process() {
        let exe = std::fs::read_link("/proc/self/exe").expect("exe").to_string_lossy().into_owned();
        let Some(Modules::Listed(list)) = read(Path::new("/proc/self"), Some(&exe)) else {
            panic!("own maps unreadable");
        };
        assert_eq!(list[0].path, exe);
        assert!(list.iter().any(|m| m.path.contains("libc")));
        assert_eq!(read(Path::new("/proc/no-such-process"), None), None);
    }
}
