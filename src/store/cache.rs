//! Decoded records the writer thread keeps between commands.
//!
//! Every checkout reads its shop, the shop's slots and the platform
//! settings, and decoding them again for each order was a tenth of the
//! writer's time. They change rarely, so the writer keeps them decoded, under
//! one rule that makes staleness impossible rather than unlikely: the cache
//! lives only while the writer runs commands submitted with
//! `Store::write_keeping_cache`, which promise not to write any record kept
//! here. Any other command clears it before it runs, and so do a group that
//! does not commit (its reads may have seen writes that never happened) and
//! a reopened database. Outside such a command (any other thread, or a
//! plain write) `cached` simply loads.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Enough for every shop of a campus; past it the cache starts over rather
/// than grow without bound.
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
struct Cache {
    active: bool,
    entries: HashMap<(TypeId, String), Rc<dyn Any>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// Called by the writer before each command: `keeps` is the command's
/// promise (see the module comment).
pub(super) fn enter(keeps: bool) {
    CACHE.with_borrow_mut(|c| {
        if !keeps {
            c.entries.clear();
        }
        c.active = keeps;
    });
}

/// Forgets everything: the group did not commit or the file was reopened.
pub(super) fn clear() {
    CACHE.with_borrow_mut(|c| {
        c.entries.clear();
        c.active = false;
    });
}

/// The value under `key` (records of different types never collide), from
/// the cache when the running command keeps it, else from `load`.
pub fn cached<T: 'static, E>(key: &str, load: impl FnOnce() -> Result<T, E>) -> Result<Rc<T>, E> {
    let id = (TypeId::of::<T>(), key.to_string());
    let hit = CACHE.with_borrow(|c| {
        c.active
            .then(|| c.entries.get(&id).cloned())
            .flatten()
            .and_then(|v| v.downcast::<T>().ok())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let v = Rc::new(load()?);
    CACHE.with_borrow_mut(|c| {
        if c.active {
            if c.entries.len() >= MAX_ENTRIES {
                c.entries.clear();
            }
            c.entries.insert(id, v.clone() as Rc<dyn Any>);
        }
    });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn counted(n: &Cell<u32>, v: &'static str) -> impl FnOnce() -> Result<String, ()> {
        move || {
            n.set(n.get() + 1);
            Ok(v.to_string())
        }
    }

    #[test]
    fn loads_once_while_commands_keep_the_cache() {
        let n = Cell::new(0);
        enter(true);
        assert_eq!(*cached("a", counted(&n, "one")).unwrap(), "one");
        assert_eq!(*cached("a", counted(&n, "two")).unwrap(), "one");
        assert_eq!(n.get(), 1);
        enter(true);
        assert_eq!(*cached("a", counted(&n, "two")).unwrap(), "one");
        assert_eq!(n.get(), 1, "a later keeping command still hits");
    }

    #[test]
    fn a_plain_command_clears_and_bypasses_it() {
        let n = Cell::new(0);
        enter(true);
        cached("a", counted(&n, "one")).unwrap();
        enter(false);
        assert_eq!(*cached("a", counted(&n, "two")).unwrap(), "two");
        assert_eq!(*cached("a", counted(&n, "three")).unwrap(), "three");
        enter(true);
        assert_eq!(*cached("a", counted(&n, "four")).unwrap(), "four");
        assert_eq!(n.get(), 4, "nothing from before the plain command survives");
    }

    #[test]
    fn clear_forgets_and_types_do_not_collide() {
        let n = Cell::new(0);
        enter(true);
        cached("a", counted(&n, "one")).unwrap();
        assert_eq!(*cached::<u32, ()>("a", || Ok(7)).unwrap(), 7);
        clear();
        enter(true);
        assert_eq!(*cached("a", counted(&n, "two")).unwrap(), "two");
    }

    #[test]
    fn a_failed_load_is_not_remembered() {
        enter(true);
        assert!(cached::<String, &str>("e", || Err("io")).is_err());
        assert_eq!(
            *cached::<String, &str>("e", || Ok("ok".into())).unwrap(),
            "ok"
        );
    }

    #[test]
    fn stays_bounded() {
        enter(true);
        for i in 0..=MAX_ENTRIES {
            cached::<usize, ()>(&i.to_string(), || Ok(i)).unwrap();
        }
        assert!(CACHE.with_borrow(|c| c.entries.len()) <= MAX_ENTRIES);
    }
}
