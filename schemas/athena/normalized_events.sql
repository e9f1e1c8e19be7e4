-- Athena / Glue table over the normalized archive written by the `archive` sink:
--   s3://<bucket>/<prefix>/normalized/source=<falcon|panos>/dt=YYYY-MM-DD/hour=HH/*.ndjson.gz
-- One ECS document per line (gzip'd NDJSON), with its deterministic id under "_id".
--
-- Replace s3://my-archive-bucket/shippers with your archive_url. Partition projection means
-- no MSCK REPAIR / crawler is needed: Athena computes the partitions from the layout.
-- Columns list the ECS structs analysts hunt on; any field not declared here is still in the
-- object and can be added later without rewriting data (the reason for JSON over Parquet,
-- see docs/fdr.md). Vendor objects (crowdstrike.*, panw.*) are read as JSON text: query them
-- with json_extract_scalar(crowdstrike, '$.event_simpleName').
-- The partition column is `log_source`, not `source`: a table cannot have a partition key
-- and a column of the same name, and `source` is the ECS struct. The S3 layout keeps
-- `source=<falcon|panos>/`; storage.location.template maps it to `log_source`.
CREATE EXTERNAL TABLE IF NOT EXISTS shippers_events (
  doc_id        string,
  ts            string,
  message       string,
  tags          array<string>,
  event struct<
    id: string, kind: string, category: array<string>, type: array<string>, action: string,
    outcome: string, code: string, created: string, dataset: string, module: string,
    provider: string, severity: bigint, reason: string
  >,
  host struct<
    id: string, name: string, hostname: string, domain: string, ip: array<string>,
    mac: array<string>, os: struct<type: string, full: string, version: string, platform: string>
  >,
  user struct<id: string, name: string, domain: string, email: string, full_name: string>,
  process struct<
    pid: bigint, entity_id: string, name: string, executable: string, command_line: string,
    args: array<string>, working_directory: string,
    hash: struct<md5: string, sha1: string, sha256: string>,
    parent: struct<pid: bigint, entity_id: string, name: string, executable: string,
                   command_line: string>
  >,
  file struct<
    path: string, name: string, directory: string, extension: string, size: bigint,
    hash: struct<md5: string, sha1: string, sha256: string>
  >,
  source struct<ip: string, port: int, address: string, domain: string, bytes: bigint,
                user: struct<name: string>>,
  destination struct<ip: string, port: int, address: string, domain: string, bytes: bigint,
                     user: struct<name: string>>,
  network struct<transport: string, protocol: string, direction: string, application: string,
                 bytes: bigint, community_id: string>,
  dns struct<question: struct<name: string, type: string>, resolved_ip: array<string>>,
  url struct<full: string, original: string, domain: string, path: string>,
  rule struct<name: string, id: string, category: string>,
  observer struct<serial_number: string, hostname: string, name: string, vendor: string,
                  product: string, type: string, version: string, ip: array<string>>,
  device struct<id: string>,
  related struct<ip: array<string>, user: array<string>, hosts: array<string>,
                 hash: array<string>>,
  log struct<offset: bigint, file: struct<path: string>>,
  crowdstrike   string,
  panw          string
)
PARTITIONED BY (log_source string, dt string, hour string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'mapping.doc_id' = '_id',
  'mapping.ts' = '@timestamp',
  'case.insensitive' = 'false'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://my-archive-bucket/shippers/normalized/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.log_source.type' = 'enum',
  'projection.log_source.values' = 'falcon,panos',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2015-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' =
    's3://my-archive-bucket/shippers/normalized/source=${log_source}/dt=${dt}/hour=${hour}/'
);

-- Example hunt: one IP across endpoint and firewall logs, one day, pruned to 2 partitions.
-- SELECT ts, source, host.name, process.command_line, source.ip, destination.ip
-- FROM shippers_events
-- WHERE dt = '2025-04-01' AND source IN ('falcon', 'panos')
--   AND contains(related.ip, '81.2.69.142');
