-- Raw snapshots, compressed (lib/store.c): a new row keeps the JSON as
-- a zstd frame in body_zstd and '' in body. A row from before keeps its
-- text in body and NULL here; the retention job ages those out.
ALTER TABLE snapshot_raw ADD COLUMN body_zstd BLOB;
