#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = billing_service::config::BillingConfig::from_env()?;
    common::app::run_service(billing_service::definition(config)).await
}
