//! The integration-test harness: real AWS APIs (moto_server), real HTTP servers, real adapters.
//!
//! `infra/test.sh` starts `moto_server` on loopback and exports `COFRE_TEST_AWS_ENDPOINT`; every
//! test that needs AWS reads it and fails loudly without it, so a missing moto can never pass as a
//! skipped test. Each test makes its own table, key and secret, so tests run in parallel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use cofre_aws::{
    DynamoCredentialStore, DynamoLedger, DynamoMerchantStore, HttpPartnerClient, HttpProcessorClient, KmsKeyService,
    SecretsManagerEndpointSettings, SecretsManagerHmacKey,
};
use cofre_domain::authorizations::{
    Account, AccountId, AccountSeedReport, AccountSeeder, Authorizer, CardHashStore, HoldExpirer, Ledger, LedgerItem,
    LedgerKey,
};
use cofre_domain::clock::{Clock, SystemClock};
use cofre_domain::credentials::{CredentialSlot, CredentialStore, CredentialType, CredentialVault, Provider};
use cofre_domain::crypto::{HmacKeySource, HmacKeyringStore, KeyService, open};
use cofre_domain::endpoints::{EndpointSettings, EndpointSettingsSource};
use cofre_domain::gateway::PartnerGateway;
use cofre_domain::ids::RandomIds;
use cofre_domain::merchants::{
    ConnectionId, MerchantConnections, MerchantId, MerchantSeeder, MerchantStore, connection_context,
};
use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::TenantId;
use cofre_http::{
    Authenticator, AuthorizationApi, CredentialApi, GatewayApi, MerchantApi, authorization_router, credential_router,
    gateway_router, merchant_router,
};
use cofre_local::{EmbeddedStore, LocalKeyring, LocalTokens};

pub use wiremock;

/// The moto endpoint exported by `infra/test.sh`.
pub fn moto_endpoint() -> String {
    std::env::var("COFRE_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("COFRE_TEST_AWS_ENDPOINT is not set: run the tests with infra/test.sh, which starts moto_server")
    })
}

/// Counts requests an SDK client sends (round trips, measured at the wire), their operations and
/// what each asked for.
#[derive(Clone, Default)]
pub struct RoundTrips(Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>);

/// The count only: the SDK prints its interceptors at TRACE, and a request's body can hold a secret
/// (`PutSecretValue`'s, a rotated HMAC keyring).
impl std::fmt::Debug for RoundTrips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoundTrips({})", self.count())
    }
}

impl RoundTrips {
    /// Requests sent so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// The operation names sent so far, in order (`GenerateDataKey`, `UpdateItem`…).
    pub fn operations(&self) -> Vec<String> {
        self.1.lock().unwrap().iter().map(|(operation, _)| operation.clone()).collect()
    }

    /// The requests sent so far, in order: operation name and JSON body (`Null` if it had none).
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.1.lock().unwrap().clone()
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let name = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name().to_owned());
        let body = context.request().body().bytes().and_then(|b| serde_json::from_slice(b).ok());
        self.1.lock().unwrap().push((name.unwrap_or_default(), body.unwrap_or_default()));
        Ok(())
    }
}

/// SDK configuration pointing at moto, with throwaway credentials.
pub fn moto_sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "cofre-tests"),
        ))
        .build()
}

/// A DynamoDB client on moto that counts its round trips.
pub fn dynamodb_client(sdk: &SdkConfig, trips: &RoundTrips) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(trips.clone()).build())
}

/// A KMS client on moto that counts its round trips.
pub fn kms_client(sdk: &SdkConfig, trips: &RoundTrips) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(aws_sdk_kms::config::Builder::from(sdk).interceptor(trips.clone()).build())
}

/// A fresh `pk`/`sk` table on moto.
pub async fn create_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("cofre-test-{}", uuid::Uuid::new_v4().simple());
    let attribute = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().unwrap();
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table on moto");
    name
}

/// A fresh ledger table on moto: `pk`/`sk` with the due-holds index, as template.yaml declares it.
pub async fn create_ledger_table(client: &aws_sdk_dynamodb::Client) -> String {
    use cofre_domain::items::ledger_item::{DUE_HOLDS_INDEX, HOLD_DUE, HOLD_SHARD};
    let name = format!("cofre-test-{}", uuid::Uuid::new_v4().simple());
    let attribute = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().unwrap();
    let index = GlobalSecondaryIndex::builder()
        .index_name(DUE_HOLDS_INDEX)
        .key_schema(key(HOLD_SHARD, KeyType::Hash))
        .key_schema(key(HOLD_DUE, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .attribute_definitions(attribute(HOLD_SHARD))
        .attribute_definitions(attribute(HOLD_DUE))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create ledger table on moto");
    name
}

/// A Secrets Manager client on moto that counts its round trips.
pub fn secrets_client(sdk: &SdkConfig, trips: &RoundTrips) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk).interceptor(trips.clone()).build(),
    )
}

/// A fresh secret on moto holding `value`; returns its name.
pub async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("cofre-test-{}", uuid::Uuid::new_v4().simple());
    client.create_secret().name(&name).secret_string(value).send().await.expect("create secret on moto");
    name
}

/// A fresh symmetric KMS key on moto.
pub async fn create_kms_key(client: &aws_sdk_kms::Client) -> String {
    let key = client.create_key().description("cofre tests").send().await.expect("create key on moto");
    key.key_metadata().expect("key metadata").key_id().to_owned()
}

/// Which adapters a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded store + local keyring + settings from a document.
    Local,
    /// DynamoDB + KMS + Secrets Manager, all on moto.
    Aws,
}

impl Backend {
    /// Both, for tests that must hold on every adapter.
    pub const ALL: [Self; 2] = [Self::Local, Self::Aws];
}

/// One backend's adapters, ready to wire into a vault, plus what tests need to look behind it.
pub struct Stack {
    /// Which backend.
    pub backend: Backend,
    /// The credential store.
    pub store: Arc<dyn CredentialStore>,
    /// The merchant store.
    pub merchants: Arc<dyn MerchantStore>,
    /// The HMAC keyring source (as an execution environment holds it: [`Stack::fresh_hmac`] makes another).
    pub hmac: Arc<dyn HmacKeySource>,
    /// Where the HMAC keyring is kept, for rotating it.
    pub hmac_keyring: Arc<dyn HmacKeyringStore>,
    /// Where cards' PAN hashes are kept, for re-keying them.
    pub cards: Arc<dyn CardHashStore>,
    /// The authorization ledger.
    pub ledger: Arc<dyn Ledger>,
    /// The key service.
    pub keys: Arc<dyn KeyService>,
    /// DynamoDB round trips (AWS only).
    pub dynamodb_trips: RoundTrips,
    /// KMS round trips (AWS only).
    pub kms_trips: RoundTrips,
    /// Secrets Manager round trips (AWS only).
    pub secrets_trips: RoundTrips,
    /// The embedded store (local only), for tests that reach behind the port.
    pub embedded: Option<EmbeddedStore>,
    /// The raw DynamoDB client and credentials table (AWS only).
    pub dynamodb: Option<(aws_sdk_dynamodb::Client, String)>,
    /// The merchants table (AWS only).
    pub merchants_table: Option<String>,
    /// The ledger and events tables (AWS only).
    pub ledger_tables: Option<(String, String)>,
    /// The raw KMS client and key (AWS only).
    pub kms: Option<(aws_sdk_kms::Client, String)>,
    /// The HMAC key's secret (AWS only).
    pub hmac_secret: Option<String>,
    /// Keeps the local data directory alive.
    pub data_dir: tempfile::TempDir,
}

impl Stack {
    /// Fresh adapters on `backend`.
    pub async fn new(backend: Backend) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let dynamodb_trips = RoundTrips::default();
        let kms_trips = RoundTrips::default();
        match backend {
            Backend::Local => {
                let embedded = EmbeddedStore::open(data_dir.path()).expect("embedded store");
                let keyring = Arc::new(LocalKeyring::open_or_create(data_dir.path()).expect("keyring"));
                Self {
                    backend,
                    store: Arc::new(embedded.clone()),
                    merchants: Arc::new(embedded.clone()),
                    ledger: Arc::new(embedded.clone()),
                    cards: Arc::new(embedded.clone()),
                    hmac: Arc::clone(&keyring) as _,
                    hmac_keyring: Arc::clone(&keyring) as _,
                    keys: keyring,
                    dynamodb_trips,
                    kms_trips,
                    secrets_trips: RoundTrips::default(),
                    embedded: Some(embedded),
                    dynamodb: None,
                    merchants_table: None,
                    ledger_tables: None,
                    kms: None,
                    hmac_secret: None,
                    data_dir,
                }
            }
            Backend::Aws => {
                let sdk = moto_sdk_config();
                let dynamodb = dynamodb_client(&sdk, &dynamodb_trips);
                let kms = kms_client(&sdk, &kms_trips);
                let table = create_table(&dynamodb).await;
                let merchants_table = create_table(&dynamodb).await;
                let ledger_table = create_ledger_table(&dynamodb).await;
                let events_table = create_table(&dynamodb).await;
                let key_id = create_kms_key(&kms).await;
                let secrets_trips = RoundTrips::default();
                let hmac_secret = create_secret(&secrets_client(&sdk, &secrets_trips), &"h".repeat(48)).await;
                let (dynamo_before, kms_before) = (dynamodb_trips.count(), kms_trips.count());
                let stack = Self {
                    backend,
                    store: Arc::new(DynamoCredentialStore::new(dynamodb.clone(), &table)),
                    merchants: Arc::new(DynamoMerchantStore::new(dynamodb.clone(), &merchants_table)),
                    ledger: Arc::new(DynamoLedger::new(dynamodb.clone(), &ledger_table, &events_table)),
                    cards: Arc::new(cofre_aws::DynamoCardHashes::new(dynamodb.clone(), &ledger_table)),
                    hmac: Arc::new(SecretsManagerHmacKey::new(secrets_client(&sdk, &secrets_trips), &hmac_secret)),
                    hmac_keyring: Arc::new(SecretsManagerHmacKey::new(
                        secrets_client(&sdk, &secrets_trips),
                        &hmac_secret,
                    )),
                    keys: Arc::new(KmsKeyService::new(kms.clone(), &key_id)),
                    dynamodb_trips,
                    kms_trips,
                    secrets_trips,
                    embedded: None,
                    dynamodb: Some((dynamodb, table)),
                    merchants_table: Some(merchants_table),
                    ledger_tables: Some((ledger_table, events_table)),
                    kms: Some((kms, key_id)),
                    hmac_secret: Some(hmac_secret),
                    data_dir,
                };
                assert_eq!((dynamo_before, kms_before), (4, 1), "set-up round trips");
                stack
            }
        }
    }

    /// Endpoint settings (partners or processors) as this backend reads them: a document locally, a
    /// Secrets Manager secret on AWS (`None`: the secret does not exist).
    pub async fn partner_settings(&self, json: Option<&str>) -> Arc<dyn EndpointSettingsSource> {
        match self.backend {
            Backend::Local => Arc::new(json.map(|j| EndpointSettings::from_json(j).unwrap()).unwrap_or_default()),
            Backend::Aws => {
                let config = aws_sdk_secretsmanager::config::Builder::from(&moto_sdk_config());
                let client =
                    aws_sdk_secretsmanager::Client::from_conf(config.interceptor(self.secrets_trips.clone()).build());
                let name = format!("cofre-test-partners-{}", uuid::Uuid::new_v4().simple());
                if let Some(json) = json {
                    client.create_secret().name(&name).secret_string(json).send().await.expect("create secret");
                }
                Arc::new(SecretsManagerEndpointSettings::new(client, name))
            }
        }
    }

    /// The SDK clients the Lambdas' wiring ([`cofre_aws::wiring`]) builds on, counting their round trips
    /// (AWS only).
    pub fn aws_clients(&self) -> cofre_aws::wiring::AwsClients {
        let sdk = moto_sdk_config();
        let (dynamodb, _) = self.dynamodb.as_ref().expect("an AWS stack");
        let (kms, _) = self.kms.as_ref().expect("an AWS stack");
        cofre_aws::wiring::AwsClients::new(&sdk)
            .with_dynamodb(dynamodb.clone())
            .with_kms(kms.clone())
            .with_secrets(secrets_client(&sdk, &self.secrets_trips))
    }

    /// A fresh secret holding `value` (created uncounted); returns its name.
    pub async fn secret(&self, value: &str) -> String {
        create_secret(&aws_sdk_secretsmanager::Client::new(&moto_sdk_config()), value).await
    }

    /// create-credential's and use-credential's settings, as their environment gives them, with the
    /// partner settings in `partner_secret` (AWS only).
    pub fn credential_settings(&self, partner_secret: &str) -> cofre_aws::wiring::CredentialSettings {
        let (_, table) = self.dynamodb.as_ref().expect("an AWS stack");
        let (_, key_id) = self.kms.as_ref().expect("an AWS stack");
        cofre_aws::wiring::CredentialSettings::from_vars([
            ("CREDENTIALS_TABLE", table.as_str()),
            ("DATA_KEY_ID", key_id),
            ("PARTNER_CONFIG_SECRET", partner_secret),
        ])
        .unwrap()
    }

    /// patch-merchant-connection's settings, as its environment gives them, with the processor
    /// settings in `processor_secret` (AWS only).
    pub fn merchant_settings(&self, processor_secret: &str) -> cofre_aws::wiring::MerchantSettings {
        let (_, key_id) = self.kms.as_ref().expect("an AWS stack");
        cofre_aws::wiring::MerchantSettings::from_vars([
            ("MERCHANTS_TABLE", self.merchants_table.as_deref().expect("an AWS stack")),
            ("DATA_KEY_ID", key_id),
            ("PROCESSOR_CONFIG_SECRET", processor_secret),
            ("HMAC_KEY_SECRET", self.hmac_secret.as_deref().expect("an AWS stack")),
        ])
        .unwrap()
    }

    /// request-authorization's settings, as its environment gives them (AWS only).
    pub fn authorization_settings(&self) -> cofre_aws::wiring::AuthorizationSettings {
        let (ledger, events) = self.ledger_tables.as_ref().expect("an AWS stack");
        cofre_aws::wiring::AuthorizationSettings::from_vars([
            ("LEDGER_TABLE", ledger.as_str()),
            ("EVENTS_TABLE", events),
            ("HMAC_KEY_SECRET", self.hmac_secret.as_deref().expect("an AWS stack")),
        ])
        .unwrap()
    }

    /// The credential use case over this stack, real HTTP partners, `settings`.
    pub fn vault(&self, settings: Arc<dyn EndpointSettingsSource>) -> CredentialVault {
        CredentialVault::new(
            Arc::clone(&self.store),
            Arc::clone(&self.keys),
            Arc::new(HttpPartnerClient::new(Duration::from_millis(500)).unwrap()),
            settings,
            Arc::new(SystemClock),
            Arc::new(RandomIds::default()),
        )
    }

    /// The partner gateway over this stack, real HTTP partners, `settings`, with `clock` for its
    /// token cache.
    pub fn gateway(&self, settings: Arc<dyn EndpointSettingsSource>, clock: Arc<dyn Clock>) -> PartnerGateway {
        PartnerGateway::new(
            Arc::clone(&self.store),
            Arc::clone(&self.keys),
            Arc::new(HttpPartnerClient::new(Duration::from_millis(500)).unwrap()),
            settings,
            clock,
            Arc::new(RandomIds::default()),
        )
    }

    /// The merchant-connection use case over this stack, real HTTP processors, `settings`.
    pub fn connections(&self, settings: Arc<dyn EndpointSettingsSource>) -> MerchantConnections {
        self.connections_at(settings, Arc::new(SystemClock))
    }

    /// [`Stack::connections`] on `clock` (proof locks expire by it).
    pub fn connections_at(
        &self,
        settings: Arc<dyn EndpointSettingsSource>,
        clock: Arc<dyn Clock>,
    ) -> MerchantConnections {
        MerchantConnections::new(
            Arc::clone(&self.merchants),
            Arc::clone(&self.keys),
            Arc::clone(&self.hmac),
            Arc::new(HttpProcessorClient::new(Duration::from_millis(500)).unwrap()),
            settings,
            clock,
        )
    }

    /// The authorization use case over this stack.
    pub fn authorizer(&self) -> Authorizer {
        self.authorizer_at(Arc::new(SystemClock))
    }

    /// The authorization use case over this stack, deciding at `clock`'s time.
    pub fn authorizer_at(&self, clock: Arc<dyn Clock>) -> Authorizer {
        Authorizer::new(Arc::clone(&self.ledger), Arc::clone(&self.hmac), clock, Arc::new(RandomIds::default()))
    }

    /// The hold-expiry sweep over this stack, at `clock`'s time.
    pub fn hold_expirer(&self, clock: Arc<dyn Clock>) -> HoldExpirer {
        HoldExpirer::new(Arc::clone(&self.ledger), clock)
    }

    /// Loads `accounts` (seed-file records) into this stack's ledger: (inserted, unchanged).
    pub async fn seed_accounts(&self, accounts: &[serde_json::Value]) -> (usize, usize) {
        let report = self.seed_accounts_reporting(accounts).await;
        (report.inserted, report.unchanged)
    }

    /// Loads `accounts` (seed-file records) into this stack's ledger.
    pub async fn seed_accounts_reporting(&self, accounts: &[serde_json::Value]) -> AccountSeedReport {
        self.account_seeder().seed(accounts).await.unwrap()
    }

    /// The account seeder over this stack.
    pub fn account_seeder(&self) -> AccountSeeder {
        AccountSeeder::new(Arc::clone(&self.ledger), Arc::clone(&self.cards), Arc::clone(&self.hmac))
    }

    /// The HMAC keyring as a new execution environment (or a server started now) reads it: the
    /// keyring file opened again, the secret read afresh.
    pub fn fresh_hmac(&self) -> Arc<dyn HmacKeySource> {
        match self.backend {
            Backend::Local => Arc::new(LocalKeyring::open_or_create(self.data_dir.path()).expect("keyring")),
            Backend::Aws => Arc::new(SecretsManagerHmacKey::new(
                secrets_client(&moto_sdk_config(), &self.secrets_trips),
                self.hmac_secret.as_deref().expect("an AWS stack"),
            )),
        }
    }

    /// The HMAC key's rotation steps over this stack, as `cofre-local hmac-key` takes them: opening
    /// connection credentials locally, not on AWS (whose `DataKey` policy refuses it).
    pub fn hmac_rotation(&self) -> cofre_domain::hmac_rotation::HmacRotation {
        let rotation = cofre_domain::hmac_rotation::HmacRotation::new(
            Arc::clone(&self.hmac_keyring),
            Arc::clone(&self.merchants),
            Arc::clone(&self.cards),
        );
        match self.backend {
            Backend::Local => rotation.opening_credentials_with(Arc::clone(&self.keys)),
            Backend::Aws => rotation,
        }
    }

    /// An account as stored now.
    pub async fn account(&self, tenant: &str, id: i64) -> Account {
        let keys = [LedgerKey::Account(AccountId::new(id).unwrap())];
        match self.ledger.get(&TenantId::parse(tenant).unwrap(), &keys).await.unwrap().pop().flatten() {
            Some(Ok(LedgerItem::Account(account))) => account,
            other => panic!("account {id}: {other:?}"),
        }
    }

    /// Every event committed, oldest first on the embedded store (DynamoDB: in key order).
    pub async fn events(&self) -> Vec<serde_json::Value> {
        let bodies: Vec<String> = match (&self.embedded, &self.dynamodb, &self.ledger_tables) {
            (Some(embedded), _, _) => embedded.events().await.unwrap(),
            (None, Some((client, _)), Some((_, events))) => {
                let mut bodies = Vec::new();
                let mut start = None;
                loop {
                    let page = client
                        .scan()
                        .table_name(events)
                        .consistent_read(true)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .unwrap();
                    for item in page.items() {
                        bodies.push(item["body"].as_s().unwrap().clone());
                    }
                    start = page.last_evaluated_key;
                    if start.is_none() {
                        break;
                    }
                }
                bodies
            }
            _ => Vec::new(),
        };
        bodies.iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }

    /// The seeder over this stack.
    pub fn seeder(&self) -> MerchantSeeder {
        MerchantSeeder::new(
            Arc::clone(&self.merchants),
            Arc::clone(&self.keys),
            Arc::clone(&self.hmac),
            Arc::new(SystemClock),
        )
    }

    /// Reads a connection back and opens its credentials (canonical JSON), with its version and status.
    pub async fn stored_connection(
        &self,
        tenant: &str,
        merchant: &str,
        connection: &str,
    ) -> (Option<serde_json::Value>, u64, String) {
        let (tenant, merchant_id) = (TenantId::parse(tenant).unwrap(), MerchantId::parse(merchant).unwrap());
        let record = self.merchants.merchant(&tenant, &merchant_id).await.unwrap().expect("merchant exists");
        let connection_id = ConnectionId::parse(connection).unwrap();
        let c = record.connection(&connection_id).expect("connection exists");
        let opened = match &c.credentials {
            None => None,
            Some(sealed) => {
                let context = connection_context(&tenant, &merchant_id, &connection_id);
                let plain = open(self.keys.as_ref(), &context, &sealed.sealed).await.unwrap();
                Some(serde_json::from_slice(plain.expose()).unwrap())
            }
        };
        (opened, c.version, c.status.as_str().to_owned())
    }

    /// Reads a slot back and opens its key: what only the platform itself could do.
    pub async fn stored_key(
        &self,
        tenant: &str,
        provider: Provider,
        credential_type: CredentialType,
    ) -> Option<(String, u64)> {
        let slot = CredentialSlot { tenant: TenantId::parse(tenant).unwrap(), provider, credential_type };
        let stored = self.store.get(&slot).await.unwrap()?;
        let key = open(self.keys.as_ref(), &slot.encryption_context(), &stored.sealed_key).await.unwrap();
        Some((String::from_utf8(key.expose().clone()).unwrap(), stored.version))
    }
}

/// Builds a [`TestApp`]: one backend's adapters behind every route the functions serve, over real
/// HTTP, with partner and processor settings pointing wherever the test's fake third parties are.
#[derive(Default)]
pub struct TestAppBuilder {
    backend: Option<Backend>,
    partners: Option<String>,
    processors: Option<String>,
    clock: Option<Arc<dyn Clock>>,
}

impl TestAppBuilder {
    /// The adapters (default: the embedded store and local keyring).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The partner settings document (default: none configured).
    pub fn partners(mut self, settings: String) -> Self {
        self.partners = Some(settings);
        self
    }

    /// The processor settings document (default: none configured).
    pub fn processors(mut self, settings: String) -> Self {
        self.processors = Some(settings);
        self
    }

    /// The clock of the gateway's token cache (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Creates the stack and serves it.
    pub async fn start(self) -> TestApp {
        let stack = Stack::new(self.backend.unwrap_or(Backend::Local)).await;
        let partners = stack.partner_settings(self.partners.as_deref()).await;
        let processors = stack.partner_settings(self.processors.as_deref()).await;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let gateway = Arc::new(stack.gateway(Arc::clone(&partners), clock));
        let vault = Arc::new(stack.vault(partners));
        let connections = Arc::new(stack.connections(processors));
        let authorizer = Arc::new(stack.authorizer());
        let served = Arc::clone(&gateway);
        let server = TestServer::serve(move |authenticator| {
            credential_router(CredentialApi { vault, authenticator: authenticator.clone() })
                .merge(gateway_router(GatewayApi { gateway: served, authenticator: authenticator.clone() }))
                .merge(merchant_router(MerchantApi { connections, authenticator: authenticator.clone() }))
                .merge(authorization_router(AuthorizationApi { authorizer, authenticator }))
        })
        .await;
        TestApp { stack, server, gateway }
    }
}

/// Every route over one backend, served on loopback: what most integration tests drive.
pub struct TestApp {
    /// The adapters, for looking behind the API.
    pub stack: Stack,
    /// The served routes and a client.
    pub server: TestServer,
    /// The partner gateway the server uses (its token cache can be inspected).
    pub gateway: Arc<PartnerGateway>,
}

impl TestApp {
    /// A builder with the defaults.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }
}

/// A server on an ephemeral loopback port, serving the credential router with local tokens.
#[derive(Clone)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Mints tokens the server accepts.
    pub tokens: Arc<LocalTokens>,
    /// A client for it.
    pub client: reqwest::Client,
}

impl TestServer {
    /// Serves `vault` over real HTTP.
    pub async fn start(vault: CredentialVault) -> Self {
        Self::serve(|authenticator| credential_router(CredentialApi { vault: Arc::new(vault), authenticator })).await
    }

    /// Serves `authorizer` over real HTTP.
    pub async fn start_authorizations(authorizer: Authorizer) -> Self {
        Self::serve(|authenticator| {
            authorization_router(AuthorizationApi { authorizer: Arc::new(authorizer), authenticator })
        })
        .await
    }

    /// Serves `vault` and `gateway` (the credential routes and the partner gateway) over real HTTP.
    pub async fn start_gateway(vault: CredentialVault, gateway: Arc<PartnerGateway>) -> Self {
        Self::serve(|authenticator| {
            credential_router(CredentialApi { vault: Arc::new(vault), authenticator: authenticator.clone() })
                .merge(gateway_router(GatewayApi { gateway, authenticator }))
        })
        .await
    }

    /// `method` on `path` (from the root) as `tenant`, with `body` and extra `headers`.
    pub async fn call(&self, tenant: &str, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(self.token(tenant))
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    /// Sends `request_target` byte for byte (no client-side normalisation of `..`, `\` or escapes)
    /// as `tenant`, and returns the status and body.
    pub async fn raw_get(&self, tenant: &str, request_target: &str) -> (u16, serde_json::Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET {request_target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.token(tenant)
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok());
        (status, body.unwrap_or(serde_json::Value::Null))
    }

    /// `POST /payment-methods/v1/authorization` as `tenant`, with `scope` in the token if given.
    pub async fn authorize(&self, tenant: &str, scope: Option<&str>, body: &serde_json::Value) -> Reply {
        let token = self.tokens.mint(&TenantId::parse(tenant).unwrap(), scope, Duration::from_secs(600)).unwrap();
        let response = self
            .client
            .post(format!("{}/payment-methods/v1/authorization", self.base_url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// Serves `connections` over real HTTP.
    pub async fn start_merchants(connections: MerchantConnections) -> Self {
        Self::serve(|authenticator| merchant_router(MerchantApi { connections: Arc::new(connections), authenticator }))
            .await
    }

    /// Serves the router `build` makes with an authenticator for this server's tokens.
    pub async fn serve(build: impl FnOnce(Authenticator) -> axum::Router) -> Self {
        let tokens = Arc::new(LocalTokens::new(SecretBytes::new(b"test-signing-key-32-bytes-long!!".to_vec())));
        let router = cofre_http::with_json_fallbacks(build(Authenticator::Bearer(tokens.clone())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base_url, tokens, client: reqwest::Client::new() }
    }

    /// `PATCH /v1/merchants/{merchant}/connection/{connection}` as `tenant` (name claim "Local").
    pub async fn patch_connection(&self, tenant: &str, merchant: &str, connection: &str, body: &str) -> Reply {
        let response = self
            .client
            .patch(format!("{}/v1/merchants/{merchant}/connection/{connection}", self.base_url))
            .bearer_auth(self.token(tenant))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// A valid token for `tenant`.
    pub fn token(&self, tenant: &str) -> String {
        self.tokens.mint(&TenantId::parse(tenant).unwrap(), None, Duration::from_secs(600)).unwrap()
    }

    /// `POST /banking-auth/v1/credentials` as `tenant` with `body`; returns status, body, tracking header.
    pub async fn post_credential(&self, tenant: &str, body: &str, tracking_id: &str) -> Reply {
        let response = self
            .client
            .post(format!("{}/banking-auth/v1/credentials", self.base_url))
            .bearer_auth(self.token(tenant))
            .header("tracking_id", tracking_id)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body as JSON (`Null` if not JSON).
    pub body: serde_json::Value,
    /// The response headers.
    pub headers: HashMap<String, String>,
    /// The body exactly as sent (amounts keep their decimal text here).
    pub text: String,
}

impl Reply {
    /// Reads a reqwest response.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Self { status, body, headers, text }
    }

    /// The `code` field of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// The local sandbox's partner settings (with its allowlisted routes) sending every partner to
/// `base_url` with `timeout_ms`: the gateway tests use the allowlist the local server ships.
pub fn gateway_partners_at(base_url: &str, timeout_ms: u64) -> String {
    let mut settings: serde_json::Value = serde_json::from_str(cofre_local::server::SANDBOX_PARTNERS).unwrap();
    for endpoint in settings.as_object_mut().unwrap().values_mut() {
        endpoint["base_url"] = serde_json::json!(base_url);
        endpoint["timeout_ms"] = serde_json::json!(timeout_ms);
    }
    settings.to_string()
}

/// A clock tests move by hand, for token expiry without sleeping. Each reading is a microsecond
/// after the last, as a real clock's would be, so what is ordered by time keeps its order.
#[derive(Debug, Clone)]
pub struct TestClock(Arc<std::sync::Mutex<time::OffsetDateTime>>);

impl Default for TestClock {
    fn default() -> Self {
        Self(Arc::new(std::sync::Mutex::new(time::OffsetDateTime::now_utc())))
    }
}

impl TestClock {
    /// A clock reading `at`.
    pub fn at(at: time::OffsetDateTime) -> Self {
        Self(Arc::new(std::sync::Mutex::new(at)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> time::OffsetDateTime {
        let mut now = self.0.lock().unwrap();
        *now += Duration::from_micros(1);
        *now
    }
}

/// A settings document sending every partner to `base_url` with `timeout_ms`.
pub fn partners_at(base_url: &str, timeout_ms: u64) -> String {
    serde_json::json!({
        "BTG": { "base_url": base_url, "scope": "openid", "timeout_ms": timeout_ms },
        "CELCOIN": { "base_url": base_url, "timeout_ms": timeout_ms },
        "JDPI": { "base_url": base_url, "timeout_ms": timeout_ms },
        "PAY2ALL": { "base_url": base_url, "timeout_ms": timeout_ms },
    })
    .to_string()
}

/// A request body for `provider`/`credential_type` with `key` and the partner's required fields.
pub fn credential_body(key: &str, provider: &str, credential_type: &str) -> String {
    let provider_data = if provider == "PAY2ALL" {
        serde_json::json!({ "username": "ops@tenant" })
    } else {
        serde_json::json!({ "client_id": "client-123" })
    };
    serde_json::json!({ "key": key, "provider": provider, "type": credential_type, "provider_data": provider_data })
        .to_string()
}

/// A caller of `tenant` with no scopes, as the use cases see one a token identified.
pub fn caller(tenant: &str) -> cofre_domain::tenant::Identity {
    cofre_domain::tenant::Identity {
        tenant: cofre_domain::tenant::TenantId::parse(tenant).unwrap(),
        principal: "p".into(),
        subject: "p".into(),
        scopes: vec![],
    }
}

/// An in-memory log sink for tests that read what was logged.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

/// While it lives, the production JSON layer writes to a [`LogCapture`], at `directives`, for
/// everything this thread does (a current-thread runtime's server, client and SDK).
#[must_use = "the capture stops when this is dropped"]
pub struct ScopedLogCapture {
    _default: tracing::subscriber::DefaultGuard,
    /// A second dispatcher, alive as long as the capture. With only one registered, tracing-core
    /// decides a callsite's interest by the *registering thread's* default: a callsite first reached
    /// on another thread (another test, a blocking pool or the store's writer) would be cached as
    /// never enabled, and its lines lost here. With two, it asks every live dispatcher, this one too.
    _second: tracing::Dispatch,
}

impl LogCapture {
    /// Captures this thread's logs at `directives` (`RUST_LOG` syntax) until the guard is dropped.
    pub fn scoped(&self, directives: &str) -> ScopedLogCapture {
        use tracing_subscriber::layer::SubscriberExt;
        let second = tracing::Dispatch::new(tracing_subscriber::registry());
        let filter = cofre_http::telemetry::log_filter(Some(directives));
        let subscriber = tracing_subscriber::registry().with(cofre_http::telemetry::json_layer(self.clone(), filter));
        ScopedLogCapture { _default: tracing::subscriber::set_default(subscriber), _second: second }
    }
}

impl LogCapture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A settings document sending every processor to `base_url` with `timeout_ms`.
pub fn processors_at(base_url: &str, timeout_ms: u64) -> String {
    let names =
        ["StripeConnect", "Stripe", "AffiniPay", "Authorize.Net", "Braintree", "NMI", "Adyen", "Square", "CardPointe"];
    let map: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|n| ((*n).to_owned(), serde_json::json!({ "base_url": base_url, "timeout_ms": timeout_ms })))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The merchants every merchant-connection test starts from: `mid_test_a` of `tenant-a` with one
/// connection per processor (`midCon_stripe` holds `{secret: sk_old}`, `midCon_full` a full
/// CardPointe set, `midCon_braintree_partial` only a Braintree `key`), and `mid_test_b` of `tenant-b`.
pub fn merchant_fixture() -> Vec<serde_json::Value> {
    let connection =
        |id: &str, processor: &str| serde_json::json!({ "id": id, "processor": processor, "status": "Ready" });
    serde_json::json!([
        {
            "tenant_id": "tenant-a",
            "id": "mid_test_a",
            "name": "Bobby's Ecommerce Shop",
            "legalName": "Bobby's Ecommerce Shop",
            "address": { "address": "Api Address 1", "city": "San Francisco", "region": "CA", "postal": "12345", "country": "USA" },
            "email": "bobby@shop.example",
            "tin": "123456789",
            "tinType": "ein",
            "mcc": "5734",
            "annualSaleVolume": 20000,
            "createdOn": "2024-02-09T03:48:38Z",
            "modifiedOn": "2024-02-09T04:06:17Z",
            "createdBy": "API Key: Default",
            "modifiedBy": "API Key: Default",
            "connections": [
                connection("midCon_affinipay", "AffiniPay"),
                { "id": "midCon_stripe", "processor": "Stripe", "status": "Active", "credentials": { "secret": "sk_old" } },
                connection("midCon_stripeconnect", "StripeConnect"),
                connection("midCon_anet", "Authorize.Net"),
                connection("midCon_braintree", "Braintree"),
                connection("midCon_nmi", "NMI"),
                connection("midCon_adyen", "Adyen"),
                connection("midCon_square", "Square"),
                connection("midCon_cardpointe", "CardPointe"),
                { "id": "midCon_full", "processor": "CardPointe", "status": "Active", "credentials": { "key": "cp_user", "secret": "cp_pass", "mid": "496160873888" } },
                { "id": "midCon_braintree_partial", "processor": "Braintree", "status": "Requirements", "credentials": { "key": "bt_public_old" } }
            ]
        },
        {
            "tenant_id": "tenant-b",
            "id": "mid_test_b",
            "name": "Other Platform's Merchant",
            "tin": "987654321",
            "connections": [ { "id": "midCon_b", "processor": "Stripe", "status": "Active", "credentials": { "secret": "sk_b" } } ]
        }
    ])
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// The accounts the authorization tests start from (seed-file records). Tenant A:
/// - 1001, program 1, document 11111111111, NORMAL, BRL, limit 1000.00, bank 0001/12345-6, cards
///   501 (COMBO, 4111111111111111, tok_501), 502 (BLOCKED), 503 (CANCELLED), 504 (expired),
///   505 (DEBIT), 506 (CREDIT);
/// - 1002 BLOCKED; 1003, program 2, the same document as 1001; 1004 CANCELLED; 1005 in USD.
///
/// Tenant B: 2001.
pub fn account_fixture() -> Vec<serde_json::Value> {
    let card = |id: i64, pan: &str, status: &str, expiry: &str, mode: &str| serde_json::json!({ "id": id, "pan": pan, "stored_id": format!("tok_{id}"), "status": status, "expiry": expiry, "mode": mode });
    let account = |tenant: &str, id: i64, program: i64, document: &str, status: &str, currency: &str, limit: &str| {
        serde_json::json!({ "tenant_id": tenant, "account_id": id, "program_id": program, "document_number": document,
            "status": status, "currency": currency, "limit": limit })
    };
    let mut main = account("tenant-a", 1001, 1, "11111111111", "NORMAL", "BRL", "1000.00");
    main["bank"] = serde_json::json!({ "account": "12345-6", "branch": "0001" });
    main["cards"] = serde_json::json!([
        card(501, "4111111111111111", "NORMAL", "2030-12", "COMBO"),
        card(502, "5555555555554444", "BLOCKED", "2030-12", "CREDIT"),
        card(503, "4000000000000002", "CANCELLED", "2030-12", "CREDIT"),
        card(504, "4000000000000010", "NORMAL", "2020-01", "CREDIT"),
        card(505, "4000000000000028", "NORMAL", "2030-12", "DEBIT"),
        card(506, "4000000000000036", "NORMAL", "2030-12", "CREDIT"),
    ]);
    vec![
        main,
        account("tenant-a", 1002, 1, "22222222222", "BLOCKED", "BRL", "500.00"),
        account("tenant-a", 1003, 2, "11111111111", "NORMAL", "BRL", "100.00"),
        account("tenant-a", 1004, 1, "33333333333", "CANCELLED", "BRL", "100.00"),
        account("tenant-a", 1005, 1, "44444444444", "NORMAL", "USD", "100.00"),
        account("tenant-b", 2001, 1, "66666666666", "NORMAL", "BRL", "100.00"),
    ]
}

/// A stack seeded with [`account_fixture`] and an authorization server over it.
pub async fn authorization_world(backend: Backend) -> (Stack, TestServer) {
    let stack = Stack::new(backend).await;
    assert_eq!(stack.seed_accounts(&account_fixture()).await, (6, 0));
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    (stack, server)
}

/// `body` with the fields of `extra` set, a `null` in `extra` removing the field.
pub fn with_fields(mut body: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

/// The `validation_results` entry of `rule` in a decision.
pub fn rule_result<'a>(reply: &'a Reply, rule: &str) -> &'a serde_json::Value {
    reply.body["validation_results"].as_array().unwrap().iter().find(|r| r["name"] == rule).unwrap()
}

/// A decision answered 200 with this status, response code and denial code.
pub fn assert_decision(reply: &Reply, status: &str, response_code: &str, denial_code: Option<&str>) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], status, "{}", reply.text);
    assert_eq!(reply.body["response_code"], response_code, "{}", reply.text);
    assert_eq!(reply.body["denial_code"].as_str(), denial_code, "{}", reply.text);
}

/// A complete 0100 body for `account_id` and `amount` (decimal text, sent as a JSON number).
pub fn authorization_body(account_id: i64, amount: &str) -> serde_json::Value {
    let body = format!(
        r#"{{"mti":"0100","amount":{amount},"currency":"BRL","network":"VISA","account_id":{account_id},"entry_mode":"01","processing_code":"003000"}}"#
    );
    serde_json::from_str(&body).unwrap()
}

/// The `cofre-local` binary, built (once per test process, a no-op when it is up to date) with
/// the cargo running the tests: a test of another package cannot use `CARGO_BIN_EXE_cofre-local`.
pub fn cofre_local_bin() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "cofre-local", "--bin", "cofre-local", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run cargo build -p cofre-local");
        assert!(output.status.success(), "cargo build -p cofre-local failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["target"]["name"] == "cofre-local")
            .find_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
            .expect("cargo reported no cofre-local executable")
    })
    .clone()
}

/// An HS256 JWT of `claims` signed with `key`, whatever the claims say (a token from the future,
/// one living a year): what the local verifier must refuse, signed as it would accept.
pub fn hs256_token(key: &[u8], claims: &serde_json::Value) -> String {
    use base64::Engine;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", url.encode(br#"{"alg":"HS256","typ":"JWT"}"#), url.encode(claims.to_string()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    format!("{signing_input}.{}", url.encode(aws_lc_rs::hmac::sign(&key, signing_input.as_bytes())))
}
