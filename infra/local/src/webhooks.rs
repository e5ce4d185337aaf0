//! Webhooks: the local stand-in for the stack's EventBridge bus (docs/events.md). `cofre-local serve
//! --webhooks FIXTURES` POSTs every event of a tenant to that tenant's webhooks, signed the Standard
//! Webhooks way, at least once and in commit order.
//!
//! The events table is the outbox: an event is appended in the same write as its decision, so there
//! is nothing to lose between deciding and delivering. Each webhook has a cursor in the store (the
//! `seq` of the last event its receiver accepted) and one task that delivers the tenant's events
//! after it, one at a time: a 2xx moves the cursor on; anything else (a 5xx, a 4xx, a redirect, a
//! timeout, no connection) is retried after a back-off that doubles up to a cap, and the events
//! behind it wait, so a tenant's events (hence each account's) arrive in order. A kill between a
//! receiver's 2xx and the cursor's write delivers that event again after the restart: receivers
//! deduplicate on `webhook-id`, the event's id, the same on every attempt.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::TenantId;
use tokio::task::JoinHandle;

use crate::EmbeddedStore;
use crate::embedded::OutboxEvent;

/// The prefix of a Standard Webhooks secret (`whsec_` and the key in base64).
const SECRET_PREFIX: &str = "whsec_";
/// The key's length bounds, in bytes, as Standard Webhooks recommends them.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Why the fixtures' `webhooks` were refused. No message ever holds a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// An entry is not `{"tenant_id": …, "url": …, "secret": …}` with three strings.
    #[error("webhooks[{index}]: {reason}")]
    Shape {
        /// Its place in the list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two entries name the same tenant and URL (they would share one cursor).
    #[error("webhooks[{index}]: tenant {tenant} already has a webhook at this url")]
    Duplicate {
        /// Its place in the list.
        index: usize,
        /// The tenant.
        tenant: String,
    },
}

/// A webhook's signing key: the base64-decoded part of its `whsec_…` secret. Shown by no `Debug`.
#[derive(Clone)]
pub struct WebhookSecret(SecretBytes);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl WebhookSecret {
    /// Parses a Standard Webhooks secret: `whsec_` then 24 to 64 bytes in base64. A raw string is
    /// refused: a receiver's verifier (the `standardwebhooks` packages) base64-decodes the secret
    /// it is given, so both sides can only agree on the key in this form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(encoded) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(format!("secret must be `{SECRET_PREFIX}` followed by the key in base64 (Standard Webhooks)"));
        };
        let key = STANDARD.decode(encoded).map_err(|_| "secret: the part after `whsec_` is not base64".to_owned())?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(format!(
                "secret: the key is {} bytes; it must be {} to {}",
                key.len(),
                KEY_BYTES.start(),
                KEY_BYTES.end()
            ));
        }
        Ok(Self(SecretBytes::new(key)))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`: the `webhook-signature` header.
    pub fn sign(&self, id: &str, timestamp: u64, body: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.expose());
        let mut context = hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(format!(".{timestamp}.").as_bytes());
        context.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

/// One webhook of the fixtures: where a tenant's events go, and the key they are signed with.
#[derive(Clone)]
pub struct Webhook {
    /// Whose events.
    pub tenant: TenantId,
    /// Where they are POSTed (http or https).
    pub url: reqwest::Url,
    /// The signing key.
    pub secret: WebhookSecret,
}

impl Webhook {
    /// The URL without its path or query (either may carry a token): what logs and banners show.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// The URL's origin only: its path or query may carry the receiver's own token, as the logs never do.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("tenant", &self.tenant)
            .field("origin", &self.origin())
            .field("secret", &self.secret)
            .finish()
    }
}

/// Parses the fixtures' `webhooks` (`[{"tenant_id": …, "url": …, "secret": …}]`), strictly: every
/// field present and a string, no other field, an http(s) URL with a host, a Standard Webhooks
/// secret, no tenant with two webhooks at one URL.
pub fn parse_webhooks(entries: &[serde_json::Value]) -> Result<Vec<Webhook>, WebhookError> {
    let mut webhooks: Vec<Webhook> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let shape = |reason: String| WebhookError::Shape { index, reason };
        let Some(fields) = entry.as_object() else { return Err(shape("not an object".into())) };
        if let Some(unknown) = fields.keys().find(|key| !["tenant_id", "url", "secret"].contains(&key.as_str())) {
            return Err(shape(format!("unknown field `{unknown}` (tenant_id, url, secret)")));
        }
        // Fields are read by name; a message quotes no value (the secret could be in any of them).
        let field = |name: &str| {
            fields
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| shape(format!("`{name}` must be a string")))
        };
        let tenant = TenantId::parse(field("tenant_id")?).map_err(|e| shape(format!("tenant_id: {e}")))?;
        let url = reqwest::Url::parse(field("url")?).map_err(|e| shape(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(shape("url must be an http or https URL with a host".into()));
        }
        let secret = WebhookSecret::parse(field("secret")?).map_err(shape)?;
        if webhooks.iter().any(|w| w.tenant == tenant && w.url == url) {
            return Err(WebhookError::Duplicate { index, tenant: tenant.to_string() });
        }
        webhooks.push(Webhook { tenant, url, secret });
    }
    Ok(webhooks)
}

/// How deliveries are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// How long a receiver has to answer one POST.
    pub timeout: Duration,
    /// The wait after a first failed attempt; it doubles with each failure of the same event.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// How often a webhook with nothing left to deliver looks for new events.
    pub idle_poll: Duration,
}

impl DeliveryOptions {
    /// 5 s to answer; retries after 0.5 s, 1 s, 2 s… up to 30 s; new events looked for every 100 ms.
    pub const DEFAULT: Self = Self {
        timeout: Duration::from_secs(5),
        first_retry: Duration::from_millis(500),
        max_retry: Duration::from_secs(30),
        idle_poll: Duration::from_millis(100),
    };

    /// The wait before attempt `failures + 1` of an event that failed `failures` times (1 or more).
    pub fn back_off(&self, failures: u32) -> Duration {
        let doubled =
            self.first_retry.saturating_mul(1_u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX));
        doubled.min(self.max_retry)
    }
}

/// The running deliveries, one task per webhook; dropping this stops them (the cursors stay where
/// they are, and the next start resumes from there).
#[derive(Debug, Default)]
pub struct Deliveries {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl Deliveries {
    /// How many webhooks are being delivered to.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Starts delivering to `webhooks` from `store` (on the current Tokio runtime).
pub fn start(store: &EmbeddedStore, webhooks: Vec<Webhook>, options: DeliveryOptions) -> Result<Deliveries, String> {
    if webhooks.is_empty() {
        return Ok(Deliveries::default());
    }
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("webhook client: {e}"))?;
    let tasks = webhooks
        .into_iter()
        .map(|webhook| {
            let delivery = Delivery { store: store.clone(), client: client.clone(), webhook, options };
            tokio::spawn(delivery.run())
        })
        .collect();
    Ok(Deliveries { tasks })
}

/// Events read from the outbox at a time.
const PAGE: usize = 100;

/// One webhook's delivery loop.
struct Delivery {
    store: EmbeddedStore,
    client: reqwest::Client,
    webhook: Webhook,
    options: DeliveryOptions,
}

impl Delivery {
    async fn run(self) {
        let (tenant, url) = (&self.webhook.tenant, self.webhook.url.as_str());
        // Where the next read starts: the cursor, then past what was read (in memory: after a
        // restart, the first read starts from the cursor again).
        let mut read_from = self.retrying("read the webhook's cursor", || self.store.webhook_cursor(tenant, url)).await;
        loop {
            let (page, read_to) =
                self.retrying("read the events", || self.store.tenant_events_after(tenant, read_from, PAGE)).await;
            if page.is_empty() {
                read_from = read_to;
                tokio::time::sleep(self.options.idle_poll).await;
                continue;
            }
            for event in page {
                self.deliver(&event).await;
                while let Err(e) = self.store.advance_webhook_cursor(tenant, url, event.seq).await {
                    tracing::warn!(tenant = %tenant, error = %e, "cannot record a delivery; retrying");
                    tokio::time::sleep(self.options.first_retry).await;
                }
            }
            read_from = read_to;
        }
    }

    /// Runs a store read until it succeeds (the store answers again once a write frees it).
    async fn retrying<T>(&self, what: &str, read: impl Fn() -> Result<T, cofre_domain::store::StoreError>) -> T {
        loop {
            match read() {
                Ok(value) => return value,
                Err(e) => {
                    tracing::warn!(tenant = %self.webhook.tenant, error = %e, "webhooks: cannot {what}; retrying");
                    tokio::time::sleep(self.options.first_retry).await;
                }
            }
        }
    }

    /// POSTs `event` until its receiver answers 2xx.
    async fn deliver(&self, event: &OutboxEvent) {
        // The event's own id, the same on every attempt and after a restart; the bodies the ledger
        // writes always have one.
        let id = serde_json::from_str::<EventId>(&event.body)
            .map(|e| e.event_id)
            .unwrap_or_else(|_| format!("cofre_seq_{}", event.seq));
        let mut failures = 0_u32;
        loop {
            let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
            let signature = self.webhook.secret.sign(&id, timestamp, &event.body);
            let sent = self
                .client
                .post(self.webhook.url.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(event.body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(answer) if answer.status().is_success() => {
                    tracing::debug!(tenant = %self.webhook.tenant, event_id = %id, "webhook delivered");
                    return;
                }
                Ok(answer) => format!("answered {}", answer.status().as_u16()),
                Err(e) if e.is_timeout() => "did not answer in time".to_owned(),
                Err(_) => "could not be reached".to_owned(),
            };
            failures = failures.saturating_add(1);
            let wait = self.options.back_off(failures);
            tracing::warn!(
                tenant = %self.webhook.tenant,
                webhook = %self.webhook.origin(),
                event_id = %id,
                failures,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "webhook {failure}; retrying (the tenant's later events wait)"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(serde::Deserialize)]
struct EventId {
    event_id: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The Standard Webhooks specification's own example.
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(format!("{secret:?}"), cofre_domain::secret::REDACTED);
    }

    #[test]
    fn fixtures_are_parsed_strictly_and_no_message_quotes_a_secret() {
        let good = json!({"tenant_id": "demo-tenant", "url": "http://127.0.0.1:8000/hooks", "secret": SECRET});
        let parsed = parse_webhooks(std::slice::from_ref(&good)).unwrap();
        assert_eq!((parsed[0].tenant.as_str(), parsed[0].origin().as_str()), ("demo-tenant", "http://127.0.0.1:8000"));
        assert!(!format!("{parsed:?}").contains("MfKQ9r8"), "{parsed:?}");
        let with = |field: &str, value: serde_json::Value| {
            let mut entry = good.clone();
            entry[field] = value;
            parse_webhooks(&[entry]).unwrap_err().to_string()
        };
        let refusals = [
            with("url", json!("ftp://127.0.0.1/")),
            with("url", json!("file:///etc/passwd")),
            with("url", json!("not a url")),
            with("secret", json!("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            with("secret", json!("whsec_not*base64")),
            with("secret", json!("whsec_c2hvcnQ=")),
            with("secret", json!(12)),
            with("tenant_id", json!("")),
            with("extra", json!(SECRET)),
        ];
        for refusal in &refusals {
            assert!(refusal.starts_with("webhooks[0]: "), "{refusal}");
            assert!(!refusal.contains("MfKQ9r8") && !refusal.contains("not*base64"), "{refusal}");
        }
        assert!(refusals[3].contains("whsec_"), "{}", refusals[3]);
        let missing = parse_webhooks(&[json!({"tenant_id": "demo-tenant", "url": "http://h/"})]).unwrap_err();
        assert_eq!(missing.to_string(), "webhooks[0]: `secret` must be a string");
        let twice = parse_webhooks(&[good.clone(), good]).unwrap_err();
        assert_eq!(twice, WebhookError::Duplicate { index: 1, tenant: "demo-tenant".into() });
    }

    #[test]
    fn back_off_doubles_up_to_its_cap() {
        let options = DeliveryOptions::DEFAULT;
        let waits: Vec<u64> = (1..=9).map(|n| options.back_off(n).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(options.back_off(u32::MAX), options.max_retry);
    }
}
