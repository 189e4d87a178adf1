/**
 * A big database for backup and restore figures: the schema `bench_big` in an environment's
 * database (customers, orders, and an events table with JSON payloads and an index), grown in
 * chunks until the whole database reaches the size asked for. Rows are generated inside
 * PostgreSQL (generate_series), so nothing large crosses SSH. `npm run lab -- seed-db` is the CLI;
 * the big-database benchmark calls it in-process. Dropping the schema takes it all back.
 */
import { psql } from '../src/commands/database';
import type { EnvironmentConfig } from '../src/config/schema';
import { withHost } from '../src/remote/executor';

export const SEED_SCHEMA = 'bench_big';
/** Events per insert: about 100 MB each, so progress shows and no statement runs for minutes. */
const EVENTS_PER_CHUNK = 400_000;
const ORDERS = 1_000_000;
const CUSTOMERS = 100_000;
/** Each statement's deadline: a chunk takes well under a minute on the lab. */
const STATEMENT_MS = 15 * 60_000;

const TABLES_SQL = `
create schema if not exists ${SEED_SCHEMA};
create table if not exists ${SEED_SCHEMA}.customers (
  id bigint primary key, name text not null, email text not null, country text not null,
  created_at timestamptz not null);
create table if not exists ${SEED_SCHEMA}.orders (
  id bigint primary key, customer_id bigint not null references ${SEED_SCHEMA}.customers (id),
  status text not null, total_cents bigint not null, created_at timestamptz not null);
create table if not exists ${SEED_SCHEMA}.events (
  id bigint primary key, order_id bigint not null, kind text not null, payload jsonb not null,
  at timestamptz not null);
create index if not exists events_by_order on ${SEED_SCHEMA}.events (order_id);
insert into ${SEED_SCHEMA}.customers
  select g, 'Customer ' || g, 'customer' || g || '@example.test',
         (array['DE','FR','NL','US','GB','PL','ES','IT'])[1 + g % 8], now() - g * interval '1 minute'
  from generate_series(1, ${CUSTOMERS}) g on conflict do nothing;
insert into ${SEED_SCHEMA}.orders
  select g, 1 + g % ${CUSTOMERS}, (array['new','paid','shipped','delivered','refunded'])[1 + g % 5],
         (g::bigint * 7919) % 500000, now() - g * interval '10 seconds'
  from generate_series(1, ${ORDERS}) g on conflict do nothing;`;

/** The next chunk of events after the highest id there (so a second run grows, never collides). */
const EVENTS_SQL = `
insert into ${SEED_SCHEMA}.events
  select n, 1 + n % ${ORDERS}, (array['created','paid','picked','shipped','delivered'])[1 + n % 5],
         jsonb_build_object('sku', 'SKU-' || n % 5000, 'qty', 1 + n % 7, 'agent', 'web/' || n % 40,
                            'note', md5(n::text) || md5((n * 31)::text)),
         now() - (n % 8640000) * interval '1 second'
  from (select coalesce(max(id), 0) as top from ${SEED_SCHEMA}.events) t,
       generate_series(t.top + 1, t.top + ${EVENTS_PER_CHUNK}) n;`;

const SIZE_SQL = 'select pg_database_size(current_database())';

export interface SeedResult {
  /** The whole database's size once seeded, in MB. */
  sizeMb: number;
  /** Rows in bench_big.events. */
  events: number;
  seconds: number;
}

/**
 * Grows the environment's database (on its first host) to at least `sizeMb`; a database
 * already that big is left as it is.
 */
export async function seedDatabase(
  environment: EnvironmentConfig,
  sizeMb: number,
  progress: (line: string) => void = () => undefined,
): Promise<SeedResult> {
  const host = environment.hosts[0]!;
  const t0 = Date.now();
  return withHost(host, async (h) => {
    const query = async (sql: string) =>
      (await h.run(psql(environment, sql), { timeoutMs: STATEMENT_MS })).stdout.trim();
    const sizeNow = async () => Number(await query(SIZE_SQL)) / 2 ** 20;
    await query(TABLES_SQL);
    let size = await sizeNow();
    while (size < sizeMb) {
      await query(EVENTS_SQL);
      size = await sizeNow();
      progress(`${environment.name}: database ${Math.round(size)} MB of ${sizeMb} MB`);
    }
    await query(`analyze ${SEED_SCHEMA}.events`);
    const events = Number(await query(`select count(*) from ${SEED_SCHEMA}.events`));
    return { sizeMb: Math.round(size), events, seconds: Math.round((Date.now() - t0) / 1000) };
  });
}

/** Takes the seeded schema away again (the database's own tables stay). */
export async function dropSeed(environment: EnvironmentConfig): Promise<void> {
  const host = environment.hosts[0]!;
  await withHost(host, (h) =>
    h.run(psql(environment, `drop schema if exists ${SEED_SCHEMA} cascade`), {
      timeoutMs: STATEMENT_MS,
    }),
  );
}
