//! Lambda `expire-holds`: invoked by an EventBridge Scheduler rate schedule (every minute), releases
//! the holds due (`docs/hold-expiry.md`): it queries the due-holds index, reads the authorizations in
//! batches, and gives each back in one conditional transaction. Builds its use case once per
//! execution environment (`cofre_aws::wiring`), as the HTTP functions do. No timer of its own: the
//! schedule is the timer, and an invocation ends when nothing due is left (or at its cap).

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;

// One thread, as the other functions: one invocation at a time per execution environment.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    cofre_http::telemetry::init();
    let expirer = cofre_aws::wiring::expire_holds().await?;
    let expirer = &expirer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Some(event.context.deadline);
        cofre_aws::wiring::sweep_holds(expirer, &event.payload, deadline).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
