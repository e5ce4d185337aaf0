//! Floor 2: a lambda_http function that reads one item from DynamoDB (`FLOOR_TABLE`, key
//! `pk`/`sk`) per request: the SDK configuration and client built once at init, as Cofre's are.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("FLOOR_TABLE")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    run(service_fn(|_request: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S("floor".into()))
                .key("sk", AttributeValue::S("floor".into()))
                .send()
                .await?;
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(format!(r#"{{"found":{}}}"#, item.item.is_some())))
                .map_err(Error::from)
        }
    }))
    .await
}
