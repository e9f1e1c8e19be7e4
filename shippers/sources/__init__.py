"""Sources: files, inbox, falcon-fdr (SQS+S3), falcon-stream, panos-syslog, file-tail."""
