#!/bin/sh
# Runs once, when the primary's data directory is first initialised (mounted into
# /docker-entrypoint-initdb.d): a role the standby streams WAL with, and the pg_hba.conf
# line that lets it (a "host all …" line does not cover replication connections).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
