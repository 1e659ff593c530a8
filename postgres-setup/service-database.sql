-- One service's role and database, each created only when missing, so every
-- start of the local cluster may run it (scripts/postgres.sh, once per
-- service). psql variables: name (role = database), password.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name')\gexec
