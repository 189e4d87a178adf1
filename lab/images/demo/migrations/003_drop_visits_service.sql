-- Lab fixture baked into v5-breaking only: drops a column every release still reads. It
-- succeeds, then /health/ready fails (this release's and the previous one's), so the rollback
-- must restore the database from the pre-deploy backup.
-- backward-compatible: false
alter table visits drop column service;
