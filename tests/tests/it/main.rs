//! Every integration test in one binary (one compile and link, the crates.io shape): a module per
//! area, over real HTTP, a real DynamoDB/KMS/Secrets Manager API (moto) and real partner servers.
//! `aws_wiring` stays a binary of its own: it sets the process environment, as Lambda does, which
//! no other test running beside it may see change.

mod adapter_contract;
mod advices;
mod authorization_read_back;
mod concurrency;
mod create_credential;
mod currency_precision;
mod dynamodb_contention;
mod hmac_rotation;
mod hold_expiry;
mod lambda_path;
mod ledger_properties;
mod local_server;
mod log_leak;
mod lost_response;
mod partner_gateway;
mod patch_merchant_connection;
mod request_authorization;
mod round_trips;
mod secrets_joint_read_refused;
mod seed;
mod webhooks;
