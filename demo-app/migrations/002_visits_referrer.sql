-- Where a visit came from: a nullable column, so code that does not know it keeps working.
-- backward-compatible: true
alter table visits add column if not exists referrer text;
