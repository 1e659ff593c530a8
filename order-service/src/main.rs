#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::app::run_service(
        &order_service::SERVICE,
        &order_service::MIGRATOR,
        order_service::routes,
    )
    .await
}
