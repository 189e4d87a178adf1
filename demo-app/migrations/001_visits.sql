-- The visits table every version of the demo app reads.
-- backward-compatible: true
create table if not exists visits (
  id bigserial primary key,
  service text not null,
  at timestamptz not null default now()
);
