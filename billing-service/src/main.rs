#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::app::run_service(
        &billing_service::SERVICE,
        &billing_service::MIGRATOR,
        billing_service::routes,
    )
    .await
}
