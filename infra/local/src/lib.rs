//! The local stand-in for the AWS deployment: the very routers the Lambda functions serve, over an
//! embedded store, the local keyring and a partner sandbox (or, with `--backend aws`, over
//! DynamoDB/KMS/Secrets Manager at `AWS_ENDPOINT_URL`).

pub mod sandbox;
pub mod server;
