"""Database: schema and migrations, typed access, region registry and CSV import."""
