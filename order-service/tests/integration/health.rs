//! Readiness and liveness: the checks every service passes.

common::health_tests!(
    order_service::definition(Default::default()),
    "order-service",
    [
        "_sqlx_migrations",
        "dead_letters",
        "idempotency_keys",
        "inbox",
        "orders",
        "outbox"
    ]
);
