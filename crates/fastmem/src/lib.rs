//! `memcpy`, `memmove` and `memcmp` for the static musl build.
//!
//! musl's x86-64 `memcpy` starts every copy, however small, with
//! `rep movsq` and finishes byte by byte with `movsb`, and its `memmove`
//! copies overlapping regions backwards one byte at a time (`std; rep
//! movsb`); its `memcmp` is a C loop over single bytes. Uphill's store
//! writer lives on exactly those: serde writes small slices, redb shifts
//! entries inside a page on every insert and compares keys in every
//! search down a tree.
//! Profiled under order load, the writer thread spent 30 % of its time in
//! these two functions; the same code linked against glibc spent 7 %
//! (BENCHMARKS.md, "Durable orders").
//!
//! No maintained crate supplies these symbols for a musl binary (the Rust
//! implementations in `compiler_builtins` are only reachable on nightly),
//! so this crate does, in the usual shape: copies up to 64 bytes load
//! everything first with overlapping 1/2/4/8/16-byte moves and then store
//! it, which also makes them overlap-safe; longer copies go in 16-byte SSE2
//! moves (part of every x86-64 CPU) in the direction the overlap needs,
//! and long non-overlapping ones use `rep movsb`, which CPUs since 2012
//! run as a fast string copy. `memcmp` (and `bcmp`, which Rust's slice
//! equality calls) compares eight bytes at a time.
//!
//! `#![no_builtins]` keeps LLVM from recognising the copy loops and turning
//! them back into calls to `memcpy`, i.e. into infinite recursion.
//!
//! The exported symbols exist only in musl x86-64 builds; glibc's routines
//! are already fast. The copy functions themselves are always compiled, so
//! the tests below check them against a byte-by-byte reference on every
//! target.
#![no_builtins]

#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    use core::ptr::{read_unaligned, write_unaligned};

    /// Below this, long copies use the SSE2 loop; from here on `rep movsb`
    /// (glibc's default switch-over point is the same order of magnitude).
    const REP_MOVSB_FROM: usize = 2048;

    #[inline(always)]
    unsafe fn load16(p: *const u8) -> __m128i {
        // SAFETY: the caller guarantees 16 readable bytes at `p`;
        // `_mm_loadu_si128` has no alignment requirement and SSE2 is part
        // of the x86-64 baseline.
        unsafe { _mm_loadu_si128(p.cast()) }
    }

    #[inline(always)]
    unsafe fn store16(p: *mut u8, v: __m128i) {
        // SAFETY: as for `load16`, for 16 writable bytes.
        unsafe { _mm_storeu_si128(p.cast(), v) }
    }

    /// Copies `n <= 64` bytes. Every byte is loaded before any is stored,
    /// so the regions may overlap either way.
    #[inline(always)]
    unsafe fn small(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY (whole body): `s..s+n` is readable and `d..d+n` writable
        // (the caller's contract); every access below stays inside them
        // because each branch's lower bound on `n` covers its offsets.
        unsafe {
            if n >= 32 {
                let a = load16(s);
                let b = load16(s.add(16));
                let c = load16(s.add(n - 32));
                let e = load16(s.add(n - 16));
                store16(d, a);
                store16(d.add(16), b);
                store16(d.add(n - 32), c);
                store16(d.add(n - 16), e);
            } else if n >= 16 {
                let a = load16(s);
                let b = load16(s.add(n - 16));
                store16(d, a);
                store16(d.add(n - 16), b);
            } else if n >= 8 {
                let a = read_unaligned(s.cast::<u64>());
                let b = read_unaligned(s.add(n - 8).cast::<u64>());
                write_unaligned(d.cast::<u64>(), a);
                write_unaligned(d.add(n - 8).cast::<u64>(), b);
            } else if n >= 4 {
                let a = read_unaligned(s.cast::<u32>());
                let b = read_unaligned(s.add(n - 4).cast::<u32>());
                write_unaligned(d.cast::<u32>(), a);
                write_unaligned(d.add(n - 4).cast::<u32>(), b);
            } else if n >= 2 {
                let a = read_unaligned(s.cast::<u16>());
                let b = read_unaligned(s.add(n - 2).cast::<u16>());
                write_unaligned(d.cast::<u16>(), a);
                write_unaligned(d.add(n - 2).cast::<u16>(), b);
            } else if n == 1 {
                *d = *s;
            }
        }
    }

    /// Copies `n > 64` bytes front to back in 16-byte moves. Safe when the
    /// regions do not overlap or when `d < s`: every source chunk is read
    /// before the stores (which trail behind it) can reach it, and the last
    /// 16 bytes are read up front.
    #[inline(always)]
    unsafe fn forward(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY (whole body): offsets stay below `n`, see `small`.
        unsafe {
            let tail = load16(s.add(n - 16));
            let mut i = 0;
            while i + 16 < n {
                store16(d.add(i), load16(s.add(i)));
                i += 16;
            }
            store16(d.add(n - 16), tail);
        }
    }

    /// Copies `n > 64` bytes back to front; for `s < d < s + n`. The first
    /// 16 bytes are read up front; every other chunk is read before the
    /// stores (which trail behind it, downwards) can reach it.
    #[inline(always)]
    unsafe fn backward(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY (whole body): offsets stay below `n`, see `small`.
        unsafe {
            let head = load16(s);
            let mut end = n;
            while end > 16 {
                store16(d.add(end - 16), load16(s.add(end - 16)));
                end -= 16;
            }
            store16(d, head);
        }
    }

    /// `rep movsb`: the CPU's own string copy, for long, disjoint copies.
    #[inline(always)]
    unsafe fn rep_movsb(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY: the caller guarantees the regions are valid and disjoint;
        // the direction flag is clear at every function boundary (SysV ABI).
        unsafe {
            core::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") d => _,
                inout("rsi") s => _,
                options(nostack, preserves_flags)
            );
        }
    }

    fn disjoint(d: *mut u8, s: *const u8, n: usize) -> bool {
        let (d, s) = (d as usize, s as usize);
        d.wrapping_sub(s) >= n && s.wrapping_sub(d) >= n
    }

    /// `memcpy`'s contract (disjoint regions), though overlapping calls,
    /// which some C code makes, still come out as `memmove` would for
    /// `d < s` and `n > 64`, and exactly right for `n <= 64`.
    ///
    /// # Safety
    /// `s..s+n` readable, `d..d+n` writable.
    #[inline]
    pub unsafe fn copy(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if n <= 64 {
                small(d, s, n)
            } else if n >= REP_MOVSB_FROM && disjoint(d, s, n) {
                rep_movsb(d, s, n)
            } else {
                forward(d, s, n)
            }
        }
    }

    /// `memmove`'s contract: the regions may overlap.
    ///
    /// # Safety
    /// `s..s+n` readable, `d..d+n` writable.
    #[inline]
    pub unsafe fn move_(d: *mut u8, s: *const u8, n: usize) {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if n <= 64 {
                small(d, s, n)
            } else if (d as usize).wrapping_sub(s as usize) >= n {
                // `d` before `s`, or past its end: front to back is right.
                copy(d, s, n)
            } else {
                backward(d, s, n)
            }
        }
    }

    /// `memcmp`'s contract: the sign of the first differing byte (as
    /// unsigned), 0 when equal. Eight bytes at a time; a differing word is
    /// ordered by its bytes in memory order, i.e. as a big-endian number.
    ///
    /// # Safety
    /// `a..a+n` and `b..b+n` readable.
    #[inline]
    pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
        let word = |x: u64, y: u64| {
            if x.swap_bytes() < y.swap_bytes() {
                -1
            } else {
                1
            }
        };
        // SAFETY: every read stays below `n` on both sides.
        unsafe {
            if n < 8 {
                for i in 0..n {
                    let (x, y) = (*a.add(i), *b.add(i));
                    if x != y {
                        return i32::from(x) - i32::from(y);
                    }
                }
                return 0;
            }
            let mut i = 0;
            while i + 8 <= n {
                let x = read_unaligned(a.add(i).cast::<u64>());
                let y = read_unaligned(b.add(i).cast::<u64>());
                if x != y {
                    return word(x, y);
                }
                i += 8;
            }
            if i < n {
                // The last word overlaps bytes already found equal.
                let x = read_unaligned(a.add(n - 8).cast::<u64>());
                let y = read_unaligned(b.add(n - 8).cast::<u64>());
                if x != y {
                    return word(x, y);
                }
            }
            0
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub use imp::{compare, copy, move_};

/// # Safety
/// The C `memcpy` contract.
#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the C contract is `copy`'s.
    unsafe { copy(d, s, n) };
    d
}

/// # Safety
/// The C `memmove` contract.
#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the C contract is `move_`'s.
    unsafe { move_(d, s, n) };
    d
}

/// # Safety
/// The C `memcmp` contract.
#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the C contract is `compare`'s.
    unsafe { compare(a, b, n) }
}

/// Rust's slice equality compiles to `bcmp`; musl's calls its `memcmp`.
///
/// # Safety
/// The C `bcmp` contract.
#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the C contract is `compare`'s.
    unsafe { compare(a, b, n) }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{compare, copy, move_};

    /// A deterministic byte pattern that differs at every offset, so a byte
    /// copied from the wrong place shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| {
                (i as u8)
                    .wrapping_mul(31)
                    .wrapping_add(seed ^ (i >> 8) as u8)
            })
            .collect()
    }

    /// Deterministic pseudo-random numbers without a dependency.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    const SIZES: &[usize] = &[
        0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 66, 79, 80, 81, 127,
        128, 129, 255, 256, 257, 1000, 2047, 2048, 2049, 4095, 4096, 4097, 10_000,
    ];

    #[test]
    fn disjoint_copies_match_a_byte_loop_at_every_size_and_alignment() {
        for &n in SIZES {
            for s_off in 0..16 {
                for d_off in [0, 1, 7, 8, 15] {
                    let src = pattern(n + 32, n as u8);
                    let mut dst = vec![0xAA; n + 32];
                    unsafe { copy(dst.as_mut_ptr().add(d_off), src.as_ptr().add(s_off), n) };
                    assert_eq!(&dst[d_off..d_off + n], &src[s_off..s_off + n], "n={n}");
                    // Nothing outside the destination was touched.
                    assert!(dst[..d_off].iter().all(|&b| b == 0xAA), "n={n} before");
                    assert!(dst[d_off + n..].iter().all(|&b| b == 0xAA), "n={n} after");
                }
            }
        }
    }

    /// `move_` of `n` bytes from `s` to `d` inside a copy of `orig`, against
    /// the same move done by a plain byte loop through a temporary.
    fn check_move(orig: &[u8], s: usize, d: usize, n: usize, what: &str) {
        let mut buf = orig.to_vec();
        unsafe { move_(buf.as_mut_ptr().add(d), buf.as_ptr().add(s), n) };
        let mut want = orig.to_vec();
        let tmp: Vec<u8> = want[s..s + n].to_vec();
        for (i, b) in tmp.into_iter().enumerate() {
            want[d + i] = b;
        }
        assert_eq!(buf, want, "{what} n={n} s={s} d={d}");
    }

    /// `memmove` within one buffer, both directions, every distance up to
    /// past the length (so overlapping and not), against `copy_within`'s
    /// result computed on a copy of the buffer by a plain byte loop.
    #[test]
    fn overlapping_moves_match_a_byte_loop_in_both_directions() {
        for &n in SIZES {
            let distances: Vec<usize> = [1, 2, 3, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100]
                .into_iter()
                .chain([n / 2, n.saturating_sub(1), n, n + 1])
                .collect();
            for &dist in &distances {
                for base in [0, 3] {
                    let orig = pattern(base + n + dist + 16, dist as u8);
                    // Forwards: dst after src (the backward path).
                    check_move(&orig, base, base + dist, n, "up");
                    // Backwards: dst before src (the forward path).
                    check_move(&orig, base + dist, base, n, "down");
                }
            }
        }
    }

    #[test]
    fn moving_onto_itself_changes_nothing() {
        for &n in SIZES {
            let orig = pattern(n, 7);
            let mut buf = orig.clone();
            unsafe { move_(buf.as_mut_ptr(), buf.as_ptr(), n) };
            assert_eq!(buf, orig);
        }
    }

    #[test]
    fn random_copies_and_moves_match_the_standard_library() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = 1 + (next() % 6000) as usize;
            let n = (next() as usize) % (len + 1);
            let s = (next() as usize) % (len - n + 1);
            let d = (next() as usize) % (len - n + 1);
            let orig = pattern(len, next() as u8);
            let mut buf = orig.clone();
            unsafe { move_(buf.as_mut_ptr().add(d), buf.as_ptr().add(s), n) };
            let mut want = orig.clone();
            want.copy_within(s..s + n, d);
            assert_eq!(buf, want, "len={len} n={n} s={s} d={d}");
            let src = pattern(n, 3);
            let mut dst = orig.clone();
            unsafe { copy(dst.as_mut_ptr().add(d), src.as_ptr(), n) };
            let mut want = orig;
            want[d..d + n].copy_from_slice(&src);
            assert_eq!(dst, want, "copy len={len} n={n} d={d}");
        }
    }

    #[test]
    fn compare_orders_like_slices_wherever_the_first_difference_is() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for n in 0..80 {
            let a = pattern(n, 5);
            assert_eq!(
                unsafe { compare(a.as_ptr(), a.clone().as_ptr(), n) },
                0,
                "n={n}"
            );
            for at in 0..n {
                for _ in 0..4 {
                    let mut b = a.clone();
                    b[at] = next() as u8;
                    // A later byte that differs the other way must not
                    // decide the order.
                    if at + 1 < n {
                        b[n - 1] = !a[n - 1];
                    }
                    let got = unsafe { compare(a.as_ptr(), b.as_ptr(), n) }.signum();
                    let want = match a.cmp(&b) {
                        std::cmp::Ordering::Less => -1,
                        std::cmp::Ordering::Equal => 0,
                        std::cmp::Ordering::Greater => 1,
                    };
                    assert_eq!(got, want, "n={n} at={at}");
                }
            }
        }
    }
}
