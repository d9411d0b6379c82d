//! The one way a list that can grow is read: a page of at most `limit`
//! items after a cursor.
//!
//! The cursor is the sort key of the last item of the previous page, never
//! an offset, so items added or removed meanwhile neither repeat nor skip
//! what is left. Keys are strings whose byte order is the list's order
//! (ids are ULIDs; composite keys join their parts with `\0`, which sorts
//! before any character, and pad numbers to a fixed width). The HTTP layer
//! turns the key into an opaque cursor and back; the rules see the key.

/// Items per page unless the caller asks for another number.
pub const DEFAULT_LIMIT: usize = 50;
/// The most items a page holds.
pub const MAX_LIMIT: usize = 200;

/// Which page to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to `MAX_LIMIT`; 0 means `DEFAULT_LIMIT`, more means `MAX_LIMIT`.
    pub limit: usize,
    /// The key of the last item of the previous page (`next_cursor`).
    pub after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to continue after; `None` when nothing is left.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// The direction of a list's order by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Smallest key first (oldest first for ULID keys).
    Asc,
    /// Largest key first (newest first for ULID keys).
    Desc,
}

impl PageRequest {
    pub fn new(limit: usize, after: Option<String>) -> Self {
        PageRequest { limit, after }
    }

    /// The page size this request stands for.
    pub fn limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }

    /// Whether `key` comes after the cursor in a list ordered `dir`.
    pub fn is_after(&self, key: &str, dir: Dir) -> bool {
        match (&self.after, dir) {
            (None, _) => true,
            (Some(c), Dir::Asc) => key > c.as_str(),
            (Some(c), Dir::Desc) => key < c.as_str(),
        }
    }

    /// Pages items that already come in the list's order (`dir` by their
    /// key), stopping as soon as the page is full and one more is seen.
    pub fn take<T, E>(
        &self,
        items: impl IntoIterator<Item = Result<(String, T), E>>,
        dir: Dir,
    ) -> Result<Page<T>, E> {
        let limit = self.limit();
        let mut out: Vec<(String, T)> = Vec::new();
        for entry in items {
            let (key, item) = entry?;
            if !self.is_after(&key, dir) {
                continue;
            }
            if out.len() == limit {
                return Ok(Page {
                    next_cursor: out.last().map(|(k, _)| k.clone()),
                    items: out.into_iter().map(|(_, t)| t).collect(),
                });
            }
            out.push((key, item));
        }
        Ok(Page {
            items: out.into_iter().map(|(_, t)| t).collect(),
            next_cursor: None,
        })
    }

    /// Sorts `items` by `key` in `dir` and pages them: for lists read whole
    /// (small, or filtered in memory).
    pub fn sort_and_take<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> String,
        dir: Dir,
    ) -> Page<T> {
        let mut keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
        keyed.sort_by(|a, b| match dir {
            Dir::Asc => a.0.cmp(&b.0),
            Dir::Desc => b.0.cmp(&a.0),
        });
        match self.take(
            keyed.into_iter().map(Ok::<_, std::convert::Infallible>),
            dir,
        ) {
            Ok(page) => page,
            Err(never) => match never {},
        }
    }
}

/// A composite key: the parts in order, joined by `\0` so that comparing
/// keys compares the parts one by one (no part may hold `\0`).
pub fn key(parts: &[&str]) -> String {
    parts.join("\0")
}

/// A number as a key part whose string order is its numeric order.
pub fn num(n: i64) -> String {
    // Shifted into u64 so negative numbers sort before positive ones.
    format!("{:020}", (n as i128 - i64::MIN as i128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(items: &[i64], limit: usize, dir: Dir) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        let mut req = PageRequest::new(limit, None);
        loop {
            let page = req.sort_and_take(items.iter().copied(), |n| num(*n), dir);
            pages.push(page.items);
            match page.next_cursor {
                Some(c) => req.after = Some(c),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_hold_every_item_once_in_order() {
        let items = [5, -3, 12, 0, 7, 1, 9];
        assert_eq!(
            all(&items, 3, Dir::Asc),
            vec![vec![-3, 0, 1], vec![5, 7, 9], vec![12]]
        );
        assert_eq!(
            all(&items, 3, Dir::Desc),
            vec![vec![12, 9, 7], vec![5, 1, 0], vec![-3]]
        );
        // Exactly full: the last page has no cursor, and no empty page follows.
        assert_eq!(all(&items[..6], 3, Dir::Asc).len(), 2);
        assert_eq!(all(&[], 3, Dir::Asc), vec![Vec::<i64>::new()]);
    }

    #[test]
    fn the_cursor_survives_inserts_and_deletes() {
        let req = PageRequest::new(2, None);
        let first = req.sort_and_take([1, 2, 3, 4], |n| num(*n), Dir::Asc);
        assert_eq!(first.items, vec![1, 2]);
        // 2 is deleted and 0 is added before the next page is read.
        let next = PageRequest::new(2, first.next_cursor).sort_and_take(
            [0, 1, 3, 4],
            |n| num(*n),
            Dir::Asc,
        );
        assert_eq!(next.items, vec![3, 4]);
        assert_eq!(next.next_cursor, None);
    }

    #[test]
    fn limits_and_keys() {
        assert_eq!(PageRequest::default().limit(), DEFAULT_LIMIT);
        assert_eq!(PageRequest::new(1_000, None).limit(), MAX_LIMIT);
        assert!(key(&["ab", "z"]) < key(&["abc", "a"]));
        assert!(num(-1) < num(0) && num(9) < num(10));
    }
}
