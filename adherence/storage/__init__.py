"""Storage: the tables (``models``), each entity's public model (``public``), the database
engine for SQLite or PostgreSQL (``db``), the one codec for stored instants (``utc``), the audit
trail of reads and changes (``audit``) and the Alembic ``migrations``. May import ``adherence.core``."""
