#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = order_service::config::OrderConfig::from_env()?;
    common::app::run_service(order_service::definition(config)).await
}
