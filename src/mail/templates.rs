//! Mail templates: `assets/mail/<name>.subject.txt`, `<name>.txt` and
//! `<name>.html`, embedded in the binary and rendered with minijinja.
//! HTML templates auto-escape every value (user text such as shop names
//! included); text and subject templates do not, since they are not HTML.
//! Undefined variables are errors, so a template and its `Message` cannot
//! drift apart unnoticed (every template is rendered in the unit tests).

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use super::Message;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/mail"]
struct MailAssets;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What every template may use besides its message's fields.
#[derive(Debug, Clone)]
pub struct Site {
    /// Base URL for links, without a trailing slash.
    pub base_url: String,
    pub campus: String,
}

fn env() -> Result<&'static Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // minijinja's HTML escaping also turns `/` into `&#x2f;`, which is
        // safe but leaves every link in the HTML part unreadable to a
        // mail client's plain-text view and to tests; `& < > " '` are what
        // matter inside text and quoted attributes.
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() && !value.is_none() {
                let raw = value.to_string();
                let mut escaped = String::with_capacity(raw.len());
                for c in raw.chars() {
                    match c {
                        '&' => escaped.push_str("&amp;"),
                        '<' => escaped.push_str("&lt;"),
                        '>' => escaped.push_str("&gt;"),
                        '"' => escaped.push_str("&quot;"),
                        '\'' => escaped.push_str("&#39;"),
                        c => escaped.push(c),
                    }
                }
                out.write_str(&escaped)
                    .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write"))
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for name in MailAssets::iter() {
            let file = MailAssets::get(&name).ok_or_else(|| format!("missing {name}"))?;
            let text = String::from_utf8(file.data.into_owned())
                .map_err(|_| format!("{name} is not UTF-8"))?;
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Renders a message; an error names the template and what went wrong.
pub fn render(message: &Message, site: &Site) -> Result<Rendered, String> {
    let env = env()?;
    let name = message.template();
    let mut ctx = match serde_json::to_value(message).map_err(|e| e.to_string())? {
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Object(d)) => d,
            _ => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    };
    ctx.insert("base_url".into(), Value::String(site.base_url.clone()));
    ctx.insert("campus".into(), Value::String(site.campus.clone()));
    let ctx = Value::Object(ctx);
    let one = |suffix: &str| -> Result<String, String> {
        let t = format!("{name}.{suffix}");
        env.get_template(&t)
            .and_then(|tpl| tpl.render(&ctx))
            .map_err(|e| format!("template {t}: {e:#}"))
    };
    // A subject is one header line whatever the data says.
    let subject = one("subject.txt")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rendered {
        subject,
        text: one("txt")?,
        html: one("html")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn site() -> Site {
        Site {
            base_url: "https://uphill.example.edu".into(),
            campus: "Hill Campus".into(),
        }
    }

    fn all_messages() -> Vec<Message> {
        let now = Utc::now();
        vec![
            Message::VerifyEmail {
                name: "Asha".into(),
                token: "ab".repeat(32),
            },
            Message::PasswordReset {
                name: "Asha".into(),
                token: "cd".repeat(32),
            },
            Message::AccountExists {
                name: "Asha".into(),
                token: "ef".repeat(32),
            },
            Message::BatchReady {
                shop_name: "Foot Hill <Canteen> & Co".into(),
                batch_id: "01BATCH".into(),
                label: "5 PM Batch".into(),
                order_count: 7,
                cutoff_at: now,
            },
            Message::StaleBatch {
                shop_name: "Foot Hill".into(),
                batch_id: "01BATCH".into(),
                label: "5 PM Batch".into(),
                order_count: 3,
                locked_at: Some(now),
            },
            Message::OrderBatched {
                shop_name: "Foot Hill".into(),
                order_id: "01ORDER".into(),
                display_id: "UPH-0001".into(),
                label: "5 PM Batch".into(),
            },
            Message::OrderDelivered {
                shop_name: "Foot Hill".into(),
                order_id: "01ORDER".into(),
                display_id: "UPH-0001".into(),
                total: "₹30.00".into(),
            },
            Message::ShopDecision {
                shop_name: "Foot Hill".into(),
                shop_id: "01SHOP".into(),
                decision: "REJECTED".into(),
                note: "blurry QR".into(),
            },
            Message::Alert {
                rule: "disk_low".into(),
                title: "Disk almost full".into(),
                detail: "8% free".into(),
                opened_at: now,
            },
            Message::AlertResolved {
                rule: "disk_low".into(),
                title: "Disk almost full".into(),
                opened_at: now,
                resolved_at: now,
            },
            Message::Test { sent_at: now },
        ]
    }

    #[test]
    fn every_template_renders_with_a_one_line_subject() {
        for m in all_messages() {
            let r = render(&m, &site()).unwrap_or_else(|e| panic!("{e}"));
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{m:?}");
            assert!(r.text.contains("Hill Campus") || r.html.contains("Hill Campus"));
            assert!(r.html.contains("<html"), "{}", m.template());
        }
    }

    #[test]
    fn html_escapes_user_text_and_text_keeps_it() {
        let m = &all_messages()[3];
        let r = render(m, &site()).unwrap();
        assert!(
            r.html.contains("Foot Hill &lt;Canteen&gt; &amp; Co"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<Canteen>"));
        assert!(r.text.contains("Foot Hill <Canteen> & Co"));
        assert!(r.text.contains("7 orders"), "{}", r.text);
        assert!(
            r.text
                .contains("https://uphill.example.edu/api/v1/batches/01BATCH/picklist.pdf")
        );
        assert!(r.subject.contains('7'));
    }

    #[test]
    fn links_carry_the_token() {
        let r = render(&all_messages()[0], &site()).unwrap();
        let link = format!(
            "https://uphill.example.edu/verify-email?token={}",
            "ab".repeat(32)
        );
        assert!(
            r.text.contains(&link) && r.html.contains(&link),
            "{}",
            r.text
        );
        let r = render(&all_messages()[1], &site()).unwrap();
        assert!(
            r.text
                .contains(&format!("/reset-password?token={}", "cd".repeat(32)))
        );
        let r = render(&all_messages()[2], &site()).unwrap();
        assert!(r.subject.contains("already have"), "{}", r.subject);
        let link = format!(
            "https://uphill.example.edu/reset-password?token={}",
            "ef".repeat(32)
        );
        assert!(r.text.contains(&link) && r.html.contains(&link));
    }
}
