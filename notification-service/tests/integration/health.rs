//! Readiness and liveness: the checks every service passes.

common::health_tests!(
    notification_service::definition(),
    "notification-service",
    [
        "_sqlx_migrations",
        "dead_letters",
        "inbox",
        "notifications",
        "outbox"
    ]
);
