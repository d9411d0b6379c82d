//! The delivery OTP's rules (SPEC §4.7): what a well-formed try is, how wrong
//! tries lock an order, and who may make a new OTP. Plain functions: the
//! store layer (`market::batches`) applies their answers.

use subtle::ConstantTimeEq;

use super::FieldError;

/// Regenerations the shop's owner may make on one order; past them only an
/// admin can, with a reason.
pub const OWNER_REGENERATIONS: u8 = 2;

/// Why a try is refused before it is compared (it uses no try).
pub fn check_format(input: &str, expected_len: usize) -> Result<(), FieldError> {
    if input.is_empty() {
        return Err(FieldError::new("otp", "must not be blank"));
    }
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new("otp", "must be digits only"));
    }
    if input.len() != expected_len {
        return Err(FieldError::new(
            "otp",
            format!("must be {expected_len} digits"),
        ));
    }
    Ok(())
}

/// What one well-formed try does to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The order was locked before this try; nothing is counted.
    Locked,
    /// Right: the order completes.
    Right,
    /// Wrong: counted. `left` tries remain; at 0 this try locked the order.
    Wrong { failures: u8, left: u8 },
}

impl Attempt {
    /// True when this very try used up the last one.
    pub fn locks_now(self) -> bool {
        matches!(self, Attempt::Wrong { left: 0, .. })
    }
}

/// Tries are counted per order and never reset, not even by a new OTP, so a
/// vendor cannot guess through regenerations. The comparison is constant
/// time, so the answer's timing says nothing about the digits.
pub fn attempt(expected: &str, input: &str, failures: u8, max: u8) -> Attempt {
    if failures >= max {
        return Attempt::Locked;
    }
    if !expected.is_empty() && bool::from(input.as_bytes().ct_eq(expected.as_bytes())) {
        return Attempt::Right;
    }
    let failures = failures + 1;
    Attempt::Wrong {
        failures,
        left: max - failures,
    }
}

/// Who asks for a new OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regenerator {
    Owner,
    Admin,
    /// A runner or anyone else on the staff: never.
    Runner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegenRefusal {
    /// Only the owner or an admin regenerates.
    NotAllowed(&'static str),
    /// The owner's allowance is used up.
    OwnerLimit,
    /// An admin regenerating says why (audited).
    ReasonNeeded,
    /// The order is locked by wrong tries: a new OTP would not unlock it.
    Locked,
}

/// May this caller make a new OTP for an order that has had `done`
/// regenerations and `failures` wrong tries?
pub fn may_regenerate(
    who: Regenerator,
    done: u8,
    failures: u8,
    max: u8,
    reason: Option<&str>,
) -> Result<(), RegenRefusal> {
    if failures >= max {
        return Err(RegenRefusal::Locked);
    }
    match who {
        Regenerator::Runner => Err(RegenRefusal::NotAllowed(
            "only the shop's owner or an admin makes a new OTP",
        )),
        Regenerator::Owner if done >= OWNER_REGENERATIONS => Err(RegenRefusal::OwnerLimit),
        Regenerator::Owner => Ok(()),
        Regenerator::Admin if reason.is_none_or(|r| r.trim().is_empty()) => {
            Err(RegenRefusal::ReasonNeeded)
        }
        Regenerator::Admin => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tries_are_refused_before_counting() {
        assert!(check_format("", 4).is_err());
        assert!(check_format("12a4", 4).is_err());
        assert!(check_format("123", 4).is_err());
        assert!(check_format("12345", 4).is_err());
        assert!(check_format(" 1234", 4).is_err());
        assert!(check_format("١٢٣٤", 4).is_err(), "non-ASCII digits");
        assert!(check_format("1234", 4).is_ok());
    }

    #[test]
    fn wrong_tries_count_down_and_the_last_one_locks() {
        let mut failures = 0;
        for left in (0..5).rev() {
            match attempt("4321", "1111", failures, 5) {
                Attempt::Wrong {
                    failures: f,
                    left: l,
                } => {
                    assert_eq!(l, left);
                    failures = f;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(attempt("4321", "1111", 4, 5).locks_now());
        assert!(!attempt("4321", "1111", 3, 5).locks_now());
        assert_eq!(attempt("4321", "4321", failures, 5), Attempt::Locked);
        assert_eq!(attempt("4321", "4321", 4, 5), Attempt::Right);
        assert!(matches!(attempt("", "", 0, 5), Attempt::Wrong { .. }));
    }

    #[test]
    fn only_the_owner_twice_then_an_admin_with_a_reason() {
        use Regenerator::*;
        assert!(may_regenerate(Owner, 0, 0, 5, None).is_ok());
        assert!(may_regenerate(Owner, 1, 4, 5, None).is_ok());
        assert_eq!(
            may_regenerate(Owner, 2, 0, 5, None),
            Err(RegenRefusal::OwnerLimit)
        );
        assert!(matches!(
            may_regenerate(Runner, 0, 0, 5, None),
            Err(RegenRefusal::NotAllowed(_))
        ));
        assert_eq!(
            may_regenerate(Admin, 7, 0, 5, Some("  ")),
            Err(RegenRefusal::ReasonNeeded)
        );
        assert!(may_regenerate(Admin, 7, 0, 5, Some("student lost phone")).is_ok());
        assert_eq!(
            may_regenerate(Admin, 0, 5, 5, Some("x")),
            Err(RegenRefusal::Locked)
        );
    }
}
