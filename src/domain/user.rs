//! Users: who may sign in, and what a valid email, name or password is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, bounded_text};

/// An email address as users type it, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    key: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let err = |m: &str| Err(FieldError::new("email", m));
        if s.is_empty() {
            return err("must not be blank");
        }
        if s.len() > Self::MAX_LEN {
            return err("must be at most 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return err("must be an address such as name@example.edu");
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || super::is_invisible_or_bidi(c))
            || !domain.contains('.')
            || !domain.split('.').all(label_ok)
        {
            return err("must be an address such as name@example.edu");
        }
        Ok(Self {
            display: s.to_string(),
            key: s.to_lowercase(),
        })
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Lower-cased: the unique key of an account.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn domain(&self) -> &str {
        self.key.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// Registration may be limited to the campus's domains; an empty list
    /// allows all. Subdomains of an allowed domain are allowed too
    /// (`cs.uni.edu` under `uni.edu`).
    pub fn allowed_by(&self, domains: &[String]) -> bool {
        if domains.is_empty() {
            return true;
        }
        let d = self.domain();
        domains.iter().any(|allowed| {
            let a = allowed.trim().to_lowercase();
            d == a || d.ends_with(&format!(".{a}"))
        })
    }
}

pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    bounded_text("name", raw, 1, 100, false)
}

/// Optional phone: digits with `+`, spaces, dashes and parentheses, 5–20.
pub fn parse_phone(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    let ok_chars = raw
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if !ok_chars || !(5..=15).contains(&digits) || raw.len() > 20 {
        return Err(FieldError::new(
            "phone",
            "must be a phone number of 5 to 15 digits",
        ));
    }
    Ok(Some(raw.to_string()))
}

/// A new password. Length is the rule that matters (NIST SP 800-63B): at
/// least 8 characters, at most 128 so hashing cost stays bounded.
pub fn check_new_password(raw: &str) -> Result<(), FieldError> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(FieldError::new("password", "must be at least 8 characters"));
    }
    if n > 128 {
        return Err(FieldError::new(
            "password",
            "must be at most 128 characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Active,
    Suspended,
    Banned,
}

impl UserStatus {
    /// Only active users may sign in or use an existing session/token.
    pub fn may_sign_in(self) -> bool {
        matches!(self, UserStatus::Active)
    }
}

/// What a user does on campus, as the admins' user list filters them.
/// Derived, never stored: ownership and staff lists are the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    /// Neither owns a shop, nor runs for one, nor is an admin.
    Student,
    /// Owns a shop (not deleted).
    Vendor,
    /// On a shop's staff.
    Runner,
    Admin,
}

impl UserRole {
    /// Whether a user with these facts has this role. A vendor may also
    /// run for another shop and be an admin: the roles overlap, except
    /// `Student`, which means "none of the others".
    pub fn held_by(self, is_admin: bool, owns_shop: bool, on_staff: bool) -> bool {
        match self {
            UserRole::Student => !is_admin && !owns_shop && !on_staff,
            UserRole::Vendor => owns_shop,
            UserRole::Runner => on_staff,
            UserRole::Admin => is_admin,
        }
    }
}

/// The order emails a user asked for. Off until they opt in: the in-app
/// notification always comes, mail is extra. (No mail ever carries an OTP.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPrefs {
    /// "Your batch is locked" for each of their orders.
    pub batch_locked: bool,
    /// "Delivered" for each of their orders.
    pub delivered: bool,
}

/// The email preferences a profile change sends; None keeps the current one.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailPrefsChange {
    pub batch_locked: Option<bool>,
    pub delivered: Option<bool>,
}

impl EmailPrefsChange {
    pub fn apply(self, p: EmailPrefs) -> EmailPrefs {
        EmailPrefs {
            batch_locked: self.batch_locked.unwrap_or(p.batch_locked),
            delivered: self.delivered.unwrap_or(p.delivered),
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub status: UserStatus,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Users stored before the preference existed read as "no emails".
    #[serde(default)]
    pub email_prefs: EmailPrefs,
}

/// Why an unconfirmed address cannot order (SPEC §5: an address is
/// confirmed before its first order).
pub const CONFIRM_EMAIL_FIRST: &str = "confirm your email first: open the link we mailed you \
     (your account page can send a new one), then order";

impl User {
    /// An order needs a proven address: `Err` says what to do.
    pub fn may_order(&self) -> Result<(), &'static str> {
        if self.email_verified {
            Ok(())
        } else {
            Err(CONFIRM_EMAIL_FIRST)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_means_no_other_role_and_the_others_overlap() {
        use UserRole::*;
        assert!(Student.held_by(false, false, false));
        for facts in [
            (true, false, false),
            (false, true, false),
            (false, false, true),
        ] {
            assert!(!Student.held_by(facts.0, facts.1, facts.2));
        }
        assert!(Vendor.held_by(true, true, true));
        assert!(Runner.held_by(false, true, true));
        assert!(Admin.held_by(true, false, false));
        assert!(!Admin.held_by(false, true, true));
    }

    #[test]
    fn email_is_trimmed_and_compared_case_insensitively() {
        let e = Email::parse("  Asha@Uni.EDU ").unwrap();
        assert_eq!(e.as_str(), "Asha@Uni.EDU");
        assert_eq!(e.key(), "asha@uni.edu");
        assert_eq!(e.domain(), "uni.edu");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@uni.edu",
            "a@",
            "a@uni",
            "a b@uni.edu",
            "a@-uni.edu",
            "a@uni..edu",
            "a@un_i.edu",
            "ad\u{200B}min@uni.edu",
            "\u{202E}ude.inu@a",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@uni.edu", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn allowed_domains_include_subdomains_only() {
        let allowed = vec!["uni.edu".to_string()];
        assert!(Email::parse("a@uni.edu").unwrap().allowed_by(&allowed));
        assert!(Email::parse("a@cs.UNI.edu").unwrap().allowed_by(&allowed));
        assert!(!Email::parse("a@evil-uni.edu").unwrap().allowed_by(&allowed));
        assert!(
            !Email::parse("a@uni.edu.evil.com")
                .unwrap()
                .allowed_by(&allowed)
        );
        assert!(Email::parse("a@any.com").unwrap().allowed_by(&[]));
    }

    #[test]
    fn password_and_phone_bounds() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password(&"x".repeat(129)).is_err());
        assert_eq!(parse_phone(Some(" ")).unwrap(), None);
        assert!(parse_phone(Some("+91 98765-43210")).unwrap().is_some());
        assert!(parse_phone(Some("call me")).is_err());
        assert!(parse_phone(Some("123")).is_err());
    }

    #[test]
    fn only_active_users_sign_in() {
        assert!(UserStatus::Active.may_sign_in());
        assert!(!UserStatus::Suspended.may_sign_in());
        assert!(!UserStatus::Banned.may_sign_in());
    }
}
