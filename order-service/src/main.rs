#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::app::run_service(order_service::definition()).await
}
