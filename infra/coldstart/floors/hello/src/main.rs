//! Floor 1: the smallest lambda_http function, answering every request with a fixed JSON body.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"message":"hello"}"#))
            .map_err(Error::from)
    }))
    .await
}
