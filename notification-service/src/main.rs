#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::app::run_service(
        &notification_service::SERVICE,
        &notification_service::MIGRATOR,
        notification_service::routes,
    )
    .await
}
