"""Sinks: elasticsearch, gelf, archive (S3 / local, Athena layout), ndjson file/stdout."""
