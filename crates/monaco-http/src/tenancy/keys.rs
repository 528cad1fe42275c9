//! API keys: the `[[key]]` tables of the keys file, parsed and validated,
//! and the lookup of a presented secret.
//!
//! The file holds each key's SHA-256 digest, never its secret: a presented
//! secret is hashed once and its digest compared with every key's in
//! constant time (`subtle`), so neither the file nor the timing of a
//! comparison gives a secret away.
//!
//! ```toml
//! [[key]]
//! id = "grader"                       # shown in logs, never the secret
//! sha256 = "9f86d081…"                # hex SHA-256 of the secret
//! rate_per_minute = 60                # optional: submissions per minute
//! max_running = 4                     # optional: executions in flight
//! max_queued = 20                     # optional: of those, waiting
//! webhook_secret = "…"                # optional
//! max_limits = { wall_ms = 5000 }     # optional: lower maximums
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use monaco_executor::{LimitsOverride, Submitter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest key id accepted.
const MAX_ID_LEN: usize = 64;

/// One API key: who a caller is, and its quotas. Public so that other
/// route families (and webhooks) can read the caller's `id` and
/// `webhook_secret`. Its `Debug` never shows the webhook secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's name in logs (never the secret).
    pub id: String,
    /// The SHA-256 digest of the secret.
    pub sha256: [u8; 32],
    /// Submissions per minute (a token bucket whose burst is the same
    /// number); none: unlimited.
    pub rate_per_minute: Option<NonZeroU32>,
    /// Most of its executions in flight (queued or running) at once.
    pub max_running: Option<usize>,
    /// Most of its executions waiting for a worker at once.
    pub max_queued: Option<usize>,
    /// The secret its webhooks are signed with.
    pub webhook_secret: Option<String>,
    /// Maximums of the limits its requests may ask, below the server's.
    pub max_limits: LimitsOverride,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("max_running", &self.max_running)
            .field("max_queued", &self.max_queued)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("max_limits", &self.max_limits)
            .finish()
    }
}

impl ApiKey {
    /// What the executor needs of this caller: its id as the owner, its
    /// maximums.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            owner: Some(self.id.clone()),
            max_limits: self.max_limits,
        }
    }
}

/// The keys of one keys file.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<Arc<ApiKey>>,
}

/// What is wrong with a keys file. The message names the line or the key
/// and never quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeysError(String);

/// One `[[key]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    sha256: String,
    rate_per_minute: Option<u32>,
    max_running: Option<usize>,
    max_queued: Option<usize>,
    webhook_secret: Option<String>,
    #[serde(default)]
    max_limits: LimitsOverride,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    key: Vec<RawKey>,
}

impl ApiKeys {
    /// Parses and validates a keys file's text.
    pub fn parse(text: &str) -> Result<ApiKeys, KeysError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            // The error's own rendering quotes the line, which may hold a
            // webhook secret: say only where and what.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            KeysError(match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        let mut keys: Vec<Arc<ApiKey>> = Vec::with_capacity(raw.key.len());
        for (index, raw) in raw.key.into_iter().enumerate() {
            let key = validate(raw).map_err(|why| KeysError(format!("key {index}{why}")))?;
            if let Some(other) = keys.iter().find(|k| k.id == key.id) {
                return Err(KeysError(format!(
                    "key {index}: the id `{}` is used twice",
                    other.id
                )));
            }
            if keys.iter().any(|k| k.sha256 == key.sha256) {
                return Err(KeysError(format!(
                    "key {index} (`{}`): the same sha256 as another key",
                    key.id
                )));
            }
            keys.push(Arc::new(key));
        }
        Ok(ApiKeys { keys })
    }

    /// The key whose secret is `secret`, if any. The secret's digest is
    /// compared with every key's, each in constant time.
    pub fn find(&self, secret: &str) -> Option<Arc<ApiKey>> {
        let digest = digest(secret);
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.sha256.ct_eq(&digest)) {
                found = Some(Arc::clone(key));
            }
        }
        found
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none (every request is then refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, in the file's order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

/// The SHA-256 digest of a secret.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn validate(raw: RawKey) -> Result<ApiKey, String> {
    let id_ok = !raw.id.is_empty()
        && raw.id.len() <= MAX_ID_LEN
        && raw
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !id_ok {
        return Err(format!(
            ": `id` must be 1 to {MAX_ID_LEN} letters, digits, `-`, `_` or `.`"
        ));
    }
    let id = raw.id;
    let sha256 = parse_digest(&raw.sha256)
        .ok_or_else(|| format!(" (`{id}`): `sha256` must be 64 hexadecimal digits"))?;
    let positive = |name: &str, value: Option<usize>| match value {
        Some(0) => Err(format!(
            " (`{id}`): `{name}` must be at least 1 (remove the key to revoke it)"
        )),
        _ => Ok(value),
    };
    let rate_per_minute = match raw.rate_per_minute {
        Some(n) => Some(
            NonZeroU32::new(n)
                .ok_or_else(|| format!(" (`{id}`): `rate_per_minute` must be at least 1"))?,
        ),
        None => None,
    };
    let max_running = positive("max_running", raw.max_running)?;
    let max_queued = positive("max_queued", raw.max_queued)?;
    if let Some((field, _)) = raw.max_limits.fields().find(|&(_, v)| v == 0) {
        return Err(format!(
            " (`{id}`): `max_limits.{}` must be greater than 0",
            field.name
        ));
    }
    Ok(ApiKey {
        id,
        sha256,
        rate_per_minute,
        max_running,
        max_queued,
        webhook_secret: raw.webhook_secret,
        max_limits: raw.max_limits,
    })
}

/// 64 hex digits (either case) as 32 bytes.
fn parse_digest(hex_digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits.trim(), &mut out).ok()?;
    Some(out)
}

/// A new key: a random secret (32 bytes from the operating system's
/// CSPRNG, as `mk_` and 64 hex digits) and the `[[key]]` table that
/// admits it. Fails on an id the keys file would refuse.
pub fn generate(id: &str) -> Result<(String, String), KeysError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| KeysError(format!("no random bytes from the operating system: {e}")))?;
    let secret = format!("mk_{}", hex::encode(bytes));
    let table = format!(
        "[[key]]\nid = {}\nsha256 = \"{}\"\n",
        toml::Value::String(id.to_string()),
        hex::encode(digest(&secret))
    );
    // The table must be one the server accepts.
    ApiKeys::parse(&table)?;
    Ok((secret, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(id: &str, secret: &str, extra: &str) -> String {
        format!(
            "[[key]]\nid = \"{id}\"\nsha256 = \"{}\"\n{extra}\n",
            hex::encode(digest(secret))
        )
    }

    #[test]
    fn a_secret_finds_its_key_and_no_other() {
        let text = table(
            "a",
            "secret-a",
            "rate_per_minute = 5\nmax_limits = { wall_ms = 2000 }",
        ) + &table("b", "secret-b", "max_running = 1\nmax_queued = 2");
        let keys = ApiKeys::parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        let a = keys.find("secret-a").unwrap();
        assert_eq!(a.id, "a");
        assert_eq!(a.rate_per_minute, NonZeroU32::new(5));
        assert_eq!(a.max_limits.wall_ms, Some(2000));
        let b = keys.find("secret-b").unwrap();
        assert_eq!((b.max_running, b.max_queued), (Some(1), Some(2)));
        assert!(keys.find("secret-c").is_none());
        assert!(keys.find("").is_none());
        assert!(keys.find("secret-a ").is_none());
    }

    #[test]
    fn digests_parse_in_either_case_and_nothing_else() {
        let hex = hex::encode(digest("x"));
        assert_eq!(parse_digest(&hex), Some(digest("x")));
        assert_eq!(parse_digest(&hex.to_uppercase()), Some(digest("x")));
        assert_eq!(parse_digest(&hex[..62]), None);
        assert_eq!(parse_digest(&format!("{hex}00")), None);
        assert_eq!(parse_digest(&hex.replace(&hex[..1], "g")), None);
        assert_eq!(parse_digest(""), None);
    }

    #[test]
    fn bad_files_say_where_without_quoting_secrets() {
        let err = |text: &str| ApiKeys::parse(text).unwrap_err().to_string();
        let e = err("[[key]]\nid = \"a\"\nwebhook_secret = \"hunter2\nsha256 = 1\n");
        assert!(e.starts_with("line 3"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("[[key]]\nid = \"a\"\nsha256 = \"abc\"\n");
        assert!(e.contains("sha256") && e.contains("key 0"), "{e}");
        let e = err(&table("a", "s", "colour = 1"));
        assert!(e.contains("colour"), "{e}");
        let e = err(&table("a b", "s", ""));
        assert!(e.contains("`id`"), "{e}");
        let e = err(&(table("a", "s", "") + &table("a", "t", "")));
        assert!(e.contains("twice"), "{e}");
        let e = err(&(table("a", "s", "") + &table("b", "s", "")));
        assert!(e.contains("same sha256"), "{e}");
        assert!(err(&table("a", "s", "max_running = 0")).contains("max_running"));
        assert!(err(&table("a", "s", "rate_per_minute = 0")).contains("rate_per_minute"));
        assert!(err(&table("a", "s", "max_limits = { wall_ms = 0 }")).contains("wall_ms"));
        assert!(err(&table("a", "s", "max_limits = { walltime = 1 }")).contains("walltime"));
    }

    #[test]
    fn an_empty_file_has_no_keys() {
        assert!(ApiKeys::parse("").unwrap().is_empty());
    }

    #[test]
    fn the_webhook_secret_is_not_in_debug_output() {
        let keys = ApiKeys::parse(&table("a", "s", "webhook_secret = \"hunter2\"")).unwrap();
        let key = keys.find("s").unwrap();
        assert_eq!(key.webhook_secret.as_deref(), Some("hunter2"));
        assert!(!format!("{key:?}").contains("hunter2"));
    }

    #[test]
    fn a_generated_key_is_admitted_by_its_own_table() {
        let (secret, table) = generate("grader-1").unwrap();
        assert!(secret.starts_with("mk_") && secret.len() == 67, "{secret}");
        let keys = ApiKeys::parse(&table).unwrap();
        assert_eq!(keys.find(&secret).unwrap().id, "grader-1");
        let (other, _) = generate("grader-1").unwrap();
        assert_ne!(secret, other);
        assert!(generate("no spaces").is_err());
    }
}
