#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::app::run_service(notification_service::definition()).await
}
