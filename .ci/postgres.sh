# Source me: start the Debian PostgreSQL cluster on 127.0.0.1 and export a test database URL.
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_ctlcluster "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main status >/dev/null
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='melanoma'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE melanoma LOGIN SUPERUSER PASSWORD 'melanoma'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='melanoma_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O melanoma melanoma_test"
export MELANOMA_TEST_POSTGRES_URL="postgresql+psycopg2://melanoma:melanoma@127.0.0.1:5432/melanoma_test"
echo "PostgreSQL $ver on 127.0.0.1: $MELANOMA_TEST_POSTGRES_URL"
