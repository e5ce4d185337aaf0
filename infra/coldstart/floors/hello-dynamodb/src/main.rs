//! Floor 2: a lambda_http function that reads one item from DynamoDB (`FLOOR_TABLE`, key
//! `pk`/`sk`) per request: the SDK configuration and client built once at init, as Cofre's are.
//!
//! `FLOOR_GETS` (default 1) makes it read the item that many times, one after the other. Those
//! peers make as many requests as a Cofre function's first invocation does, so they tell how much
//! of that function's CPU is the SDK's work per request rather than Cofre's own.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("FLOOR_TABLE")?;
    let gets: usize = match std::env::var("FLOOR_GETS") {
        Ok(gets) => gets.parse()?,
        Err(_) => 1,
    };
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    run(service_fn(|_request: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let mut found = true;
            for _ in 0..gets {
                let item = client
                    .get_item()
                    .table_name(&table)
                    .key("pk", AttributeValue::S("floor".into()))
                    .key("sk", AttributeValue::S("floor".into()))
                    .send()
                    .await?;
                found &= item.item.is_some();
            }
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(format!(r#"{{"found":{found}}}"#)))
                .map_err(Error::from)
        }
    }))
    .await
}
