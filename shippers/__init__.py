"""shippers: Falcon and PAN-OS logs → ECS → Elasticsearch / Graylog / S3 archive."""

__version__ = "0.1.0"
__all__ = ["__version__"]
