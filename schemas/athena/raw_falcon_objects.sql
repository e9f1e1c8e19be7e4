-- Athena table over the raw FDR archive (objects copied unchanged from the CrowdStrike
-- bucket): s3://<bucket>/<prefix>/raw/falcon/YYYY/MM/DD/HH/<original key>.
-- Each line is one FDR record (JSON, all values strings); read it as text and extract what
-- you need. Useful to check a normalization against its source; hunting uses
-- normalized_events.sql. The HH path is the UTC hour of the object's LastModified.
CREATE EXTERNAL TABLE IF NOT EXISTS shippers_raw_falcon (
  line string
)
PARTITIONED BY (year string, month string, day string, hour string)
ROW FORMAT DELIMITED LINES TERMINATED BY '\n'
STORED AS TEXTFILE
LOCATION 's3://my-archive-bucket/shippers/raw/falcon/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.year.type' = 'integer', 'projection.year.range' = '2015,2100',
  'projection.month.type' = 'integer', 'projection.month.range' = '1,12',
  'projection.month.digits' = '2',
  'projection.day.type' = 'integer', 'projection.day.range' = '1,31',
  'projection.day.digits' = '2',
  'projection.hour.type' = 'integer', 'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' =
    's3://my-archive-bucket/shippers/raw/falcon/${year}/${month}/${day}/${hour}/'
);
-- Note: the original keys add sub-directories (data/<batch>/part-*.gz) below the hour;
-- Athena reads objects recursively below a partition location.
-- SELECT json_extract_scalar(line, '$.event_simpleName') AS name, count(*)
-- FROM shippers_raw_falcon WHERE year='2025' AND month='04' AND day='01' GROUP BY 1;
