use std::sync::Arc;
use std::time::Duration;

use super::{
    Connection, ConnectionCredentials, ConnectionError, ConnectionId, ConnectionPatch, ConnectionStatus,
    ConnectionWrite, ConnectionWriteError, CredentialField, Merchant, MerchantId, MerchantStore, Processor,
    ProcessorError, ProcessorValidator, ProofGuard, SealedConnectionCredentials,
};
use crate::clock::Clock;
use crate::crypto::{
    EncryptionContext, HmacKeySource, HmacKeyring, KeyService, KeyedHash, UnknownHmacKey, seal_verified,
};
use crate::endpoints::EndpointSettingsSource;
use crate::secret::SecretBytes;
use crate::tenant::{Identity, TenantId};

/// The domain of connection-credential fingerprints: they can never equal any other keyed hash.
pub const FINGERPRINT_DOMAIN: &str = "cofre:connection-credentials:v1";

/// The encryption context of one connection's credentials: sealed for exactly this tenant,
/// merchant and connection.
pub fn connection_context(tenant: &TenantId, merchant: &MerchantId, connection: &ConnectionId) -> EncryptionContext {
    EncryptionContext::new([
        ("purpose", "cofre:connection-credentials"),
        ("tenant_id", tenant.as_str()),
        ("merchant_id", merchant.as_str()),
        ("connection_id", connection.as_str()),
    ])
}

/// What a fingerprint is the keyed hash of: the tenant, merchant and connection too, so the same
/// credentials on two connections never share a fingerprint (a reader of the table cannot tell that
/// two merchants, or tenants, use the same keys), then the credentials' canonical bytes.
fn fingerprint_message(
    tenant: &TenantId,
    merchant: &MerchantId,
    connection: &ConnectionId,
    canonical: &SecretBytes,
) -> SecretBytes {
    let mut message = Vec::new();
    for part in [tenant.as_str(), merchant.as_str(), connection.as_str()] {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part.as_bytes());
    }
    message.extend_from_slice(canonical.expose());
    SecretBytes::new(message)
}

/// The fingerprint of a connection's credential set, under the keyring's current key.
pub fn fingerprint(
    keyring: &HmacKeyring,
    tenant: &TenantId,
    merchant: &MerchantId,
    connection: &ConnectionId,
    credentials: &ConnectionCredentials,
) -> KeyedHash {
    fingerprint_of_canonical(keyring, tenant, merchant, connection, &credentials.canonical_bytes())
}

/// The fingerprint of a credential set given as its canonical bytes (as sealed), under the current key.
pub fn fingerprint_of_canonical(
    keyring: &HmacKeyring,
    tenant: &TenantId,
    merchant: &MerchantId,
    connection: &ConnectionId,
    canonical: &SecretBytes,
) -> KeyedHash {
    keyring.hash(FINGERPRINT_DOMAIN, fingerprint_message(tenant, merchant, connection, canonical).expose())
}

/// Whether `stored` is the fingerprint of `credentials` (canonical bytes), under whichever key of the
/// keyring it names; an error if the keyring no longer holds that key.
pub fn fingerprint_matches(
    keyring: &HmacKeyring,
    stored: &KeyedHash,
    tenant: &TenantId,
    merchant: &MerchantId,
    connection: &ConnectionId,
    canonical: &SecretBytes,
) -> Result<bool, UnknownHmacKey> {
    keyring.verify(stored, FINGERPRINT_DOMAIN, fingerprint_message(tenant, merchant, connection, canonical).expose())
}

/// What the request proved about the credentials on file.
enum Proof {
    /// It asks for exactly what is on file: a retry of a rotation that committed.
    AlreadyOnFile(ConnectionCredentials),
    /// Its `existingCredentials` are those on file: the base the new fields go over.
    Proven(ConnectionCredentials),
    /// Neither.
    Failed,
}

/// The merchant-connection use case: set or rotate a connection's processor credentials. Knows
/// only ports.
pub struct MerchantConnections {
    store: Arc<dyn MerchantStore>,
    keys: Arc<dyn KeyService>,
    hmac: Arc<dyn HmacKeySource>,
    processors: Arc<dyn ProcessorValidator>,
    settings: Arc<dyn EndpointSettingsSource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MerchantConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantConnections").finish_non_exhaustive()
    }
}

impl MerchantConnections {
    /// Wires the use case to its ports.
    pub fn new(
        store: Arc<dyn MerchantStore>,
        keys: Arc<dyn KeyService>,
        hmac: Arc<dyn HmacKeySource>,
        processors: Arc<dyn ProcessorValidator>,
        settings: Arc<dyn EndpointSettingsSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, keys, hmac, processors, settings, clock }
    }

    async fn hmac_keyring(&self) -> Result<Arc<HmacKeyring>, ConnectionError> {
        self.hmac.hmac_keyring().await.map_err(|e| ConnectionError::Crypto(e.to_string()))
    }

    /// The processor's required fields that neither the patch nor what is on file gives.
    fn missing_fields(
        processor: Processor,
        patch: &ConnectionPatch,
        on_file: Option<&SealedConnectionCredentials>,
    ) -> Vec<CredentialField> {
        let present = |field| patch.new.get(field).is_some() || on_file.is_some_and(|c| c.fields.contains(&field));
        processor.required_fields().iter().copied().filter(|f| !present(*f)).collect()
    }

    /// Compares what the request claims with the credentials on file, under the connection's
    /// [`ProofGuard`]: none while it is locked (429), and once it has counted a failure, each
    /// comparison is first recorded as failed (a conditional write on the count read), so that
    /// concurrent guesses get one comparison per count between them; a success resets it. A
    /// comparison that fails is counted (one write); one on an unguarded connection that succeeds
    /// writes nothing. The fingerprint on file is compared under the key it names: if the keyring no
    /// longer holds that key, nothing can be compared, counted or written ([`ConnectionError::UnknownHmacKey`]).
    async fn prove(
        &self,
        tenant: &TenantId,
        merchant: &MerchantId,
        connection: &Connection,
        on_file: &SealedConnectionCredentials,
        patch: &ConnectionPatch,
    ) -> Result<Proof, ConnectionError> {
        let now = self.clock.now();
        let guard = connection.guard;
        if let Some(retry_after) = guard.locked_for(now) {
            return Err(ConnectionError::ProofLocked { retry_after });
        }
        let keyring = self.hmac_keyring().await?;
        if !keyring.holds(on_file.fingerprint.key_id()) {
            let error = UnknownHmacKey(on_file.fingerprint.key_id().clone());
            tracing::error!(
                connection_id = %connection.id,
                error = %error,
                "the fingerprint on file cannot be compared"
            );
            return Err(ConnectionError::UnknownHmacKey(error));
        }
        let failed = guard.after_failure(now);
        let store_error = |e: crate::store::StoreError| ConnectionError::Store(e.to_string());
        let reserved = guard.failures > 0;
        if reserved
            && !self
                .store
                .guard_proof(tenant, merchant, &connection.id, guard.failures, &failed)
                .await
                .map_err(store_error)?
        {
            // Another request's comparison counted first: it may have locked the connection.
            return Err(ConnectionError::ProofLocked { retry_after: Duration::from_secs(1) });
        }

        // The key was checked above: an unknown one cannot come up here.
        let matches = |set: &ConnectionCredentials| {
            let canonical = set.canonical_bytes();
            fingerprint_matches(&keyring, &on_file.fingerprint, tenant, merchant, &connection.id, &canonical)
                .unwrap_or(false)
        };
        let requested = patch.existing.clone().unwrap_or_default().overlaid_with(&patch.new);
        let proof = if matches(&requested) {
            Proof::AlreadyOnFile(requested)
        } else {
            match &patch.existing {
                Some(existing) if matches(existing) => Proof::Proven(existing.clone()),
                _ => Proof::Failed,
            }
        };

        let counted = match (&proof, reserved) {
            (Proof::Failed, true) => true,
            (Proof::Failed, false) => {
                self.store.guard_proof(tenant, merchant, &connection.id, 0, &failed).await.map_err(store_error)?
            }
            (_, true) => self
                .store
                .guard_proof(tenant, merchant, &connection.id, failed.failures, &ProofGuard::default())
                .await
                .map_err(store_error)?,
            (_, false) => true,
        };
        if matches!(proof, Proof::Failed) {
            tracing::warn!(failures = failed.failures, counted, "existing credentials not proven");
        }
        Ok(proof)
    }

    /// Re-keys the fingerprint on file, made with another key than the current one, from `credentials`
    /// (proven to be those on file): one conditional write. A failure leaves it for the next time.
    async fn rekey(
        &self,
        tenant: &TenantId,
        merchant: &MerchantId,
        connection: &ConnectionId,
        on_file: &SealedConnectionCredentials,
        credentials: &ConnectionCredentials,
    ) {
        let Ok(keyring) = self.hmac_keyring().await else { return };
        if on_file.fingerprint.key_id() == keyring.current() {
            return;
        }
        let new = fingerprint(&keyring, tenant, merchant, connection, credentials);
        match self.store.rekey_fingerprint(tenant, merchant, connection, &on_file.fingerprint, &new).await {
            Ok(rekeyed) => tracing::info!(rekeyed, key_id = %keyring.current(), "fingerprint re-keyed"),
            Err(e) => tracing::warn!(error = %e, "the fingerprint could not be re-keyed"),
        }
    }

    /// Sets or rotates the credentials of `connection_id`, in the documented order: find (404), refuse
    /// while proofs are locked (429), answer a request whose result is already on file as done (a
    /// retry), check the processor's requirements on the merged set (400), check
    /// `existingCredentials` by fingerprint (400/409), validate with the processor (400/502/504), seal
    /// and write conditionally on what was read (409 if another rotation won). Every failure leaves
    /// the connection as it was, but for a failed proof's count ([`ProofGuard`]).
    ///
    /// Round trips: one read, one processor call, one `GenerateDataKey`, one conditional write; nothing
    /// on file is ever decrypted. A failed proof: one read, one write; a proof on a connection whose
    /// guard has counted failures: one more write before the comparison, and one to reset it after a
    /// success. A request answered as done whose fingerprint on file was made with another HMAC key
    /// than the current one: one write, re-keying it.
    pub async fn patch(
        &self,
        caller: &Identity,
        merchant_id: &str,
        connection_id: &str,
        patch: ConnectionPatch,
    ) -> Result<Merchant, ConnectionError> {
        let tenant = &caller.tenant;
        let (Some(merchant_id), Some(connection_id)) =
            (MerchantId::parse(merchant_id), ConnectionId::parse(connection_id))
        else {
            return Err(ConnectionError::NotFound);
        };
        let merchant = self
            .store
            .merchant(tenant, &merchant_id)
            .await
            .map_err(|e| ConnectionError::Store(e.to_string()))?
            .ok_or(ConnectionError::NotFound)?;
        let connection = merchant.connection(&connection_id).ok_or(ConnectionError::NotFound)?;
        let processor = connection.processor;

        let on_file = connection.credentials.as_ref();
        let proof = match on_file {
            Some(on_file) => Some(self.prove(tenant, &merchant_id, connection, on_file, &patch).await?),
            None => None,
        };
        // A retry of a rotation that already committed (its answer was lost): what it asks for is what
        // is on file, so it gets the stored result, whatever its `existingCredentials` (no longer the
        // ones on file) say. Nothing is called or written, but for a fingerprint made with another key
        // than the current one: the credentials are at hand, so it is re-keyed.
        if let (Some(Proof::AlreadyOnFile(requested)), Some(on_file)) = (&proof, on_file) {
            tracing::info!(%processor, "the credentials asked for are already on file: answered as done");
            self.rekey(tenant, &merchant_id, &connection_id, on_file, requested).await;
            return Ok(merchant);
        }
        let missing = Self::missing_fields(processor, &patch, on_file);
        if !missing.is_empty() {
            return Err(ConnectionError::MissingFields { processor, fields: missing });
        }
        let base = match (proof, &patch.existing) {
            (Some(Proof::Proven(existing)), _) => existing,
            (None, None) => ConnectionCredentials::default(),
            (Some(Proof::Failed | Proof::AlreadyOnFile(_)), None) => return Err(ConnectionError::CredentialsExist),
            (None | Some(Proof::Failed | Proof::AlreadyOnFile(_)), Some(_)) => {
                return Err(ConnectionError::ExistingMismatch);
            }
        };
        let merged = base.overlaid_with(&patch.new);

        let settings = self.settings.settings().await.map_err(|e| {
            tracing::error!(error = %e, "processor settings unavailable");
            ConnectionError::ProcessorConfigNotFound(processor)
        })?;
        let endpoint =
            settings.endpoint(processor.as_str()).ok_or(ConnectionError::ProcessorConfigNotFound(processor))?;
        self.processors.validate(processor, endpoint, &merged).await.map_err(|e| match e {
            ProcessorError::Rejected => ConnectionError::InvalidCredentials,
            ProcessorError::Unavailable(reason) => ConnectionError::ProcessorUnavailable(reason),
            ProcessorError::Timeout => ConnectionError::ProcessorTimeout,
        })?;
        tracing::info!(%processor, "processor accepted the credentials");

        let canonical = merged.canonical_bytes();
        let context = connection_context(tenant, &merchant_id, &connection_id);
        let sealed = seal_verified(self.keys.as_ref(), &context, canonical.expose())
            .await
            .map_err(|e| ConnectionError::Crypto(e.to_string()))?;
        // Under the current key, whichever key the fingerprint on file was made with: a rotation re-hashes.
        let new_fingerprint = fingerprint(&*self.hmac_keyring().await?, tenant, &merchant_id, &connection_id, &merged);
        let write = ConnectionWrite {
            connection_id,
            expected_version: connection.version,
            expected_fingerprint: on_file.map(|c| c.fingerprint.clone()),
            credentials: SealedConnectionCredentials { sealed, fingerprint: new_fingerprint, fields: merged.fields() },
            status: ConnectionStatus::Active,
            modified_on: self.clock.now(),
            modified_by: format!("API Key: {}", caller.principal),
        };
        let written = match self.store.write_connection(tenant, &merchant_id, &write).await {
            Ok(written) => written,
            // Our own write, already applied: the SDK retried a write whose answer was lost. The sealed
            // value (random data key and nonce) is unique to this request, so it identifies the write.
            Err(ConnectionWriteError::Conflict { current: Some(current) })
                if current
                    .connection(&write.connection_id)
                    .and_then(|c| c.credentials.as_ref())
                    .is_some_and(|c| c.sealed == write.credentials.sealed) =>
            {
                *current
            }
            Err(ConnectionWriteError::Conflict { .. }) => return Err(ConnectionError::ExistingMismatch),
            Err(ConnectionWriteError::Store(e)) => return Err(ConnectionError::Store(e.to_string())),
        };
        tracing::info!(%processor, version = write.expected_version + 1, "connection credentials saved");
        Ok(written)
    }
}
