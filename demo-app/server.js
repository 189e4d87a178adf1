'use strict';
/**
 * The demo web service deployed by the pipeline (site, saas and api are this same program).
 * Plain Node 18, no npm dependencies.
 *
 *   GET /health/live   200 while the process runs
 *   GET /health/ready  200 only when the database answers and has the columns this code reads
 *                      (503 otherwise), or always with APP_DATABASE=none (an app without one);
 *                      always 503 when the image was built with APP_FORCE_UNREADY=1
 *   GET /version       {"service", "version", "release"}
 *   GET /metrics       Prometheus text
 *   GET /              a small page
 *
 * Every answer carries an `x-app-release` header (the release that answered), so a load test
 * sees which colour served each request.
 *
 * Environment: SERVICE_NAME, APP_VERSION (baked into the image), APP_RELEASE (set by the deploy),
 * PORT (8080), APP_ERROR_EVERY (faulty builds: every Nth request but health checks answers 500),
 * APP_DELAY_MS (faulty builds: every request but health checks answers this much later), PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE (read by psql for the readiness check).
 * `node server.js migrate` applies migrations/*.sql once each, each in its own transaction (ledger
 * table schema_migrations); each file declares `-- backward-compatible: true|false` in its header.
 */
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');

const SERVICE = process.env.SERVICE_NAME || 'demo';
const VERSION = process.env.APP_VERSION || 'dev';
const RELEASE = process.env.APP_RELEASE || '';
const PORT = Number(process.env.PORT || 8080);
const FORCE_UNREADY = process.env.APP_FORCE_UNREADY === '1';
// A stateless app (the lab's second, differently shaped app) has no database to wait for.
const NO_DATABASE = process.env.APP_DATABASE === 'none';
const ERROR_EVERY = Number(process.env.APP_ERROR_EVERY || 0);
const DELAY_MS = Number(process.env.APP_DELAY_MS || 0);
const DB_TIMEOUT_MS = Number(process.env.DB_CHECK_TIMEOUT_MS || 3000);
const started = Date.now();

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} ${SERVICE} ${VERSION} ${msg}\n`);
}

/** Runs psql with the PG* environment; resolves with stdout or rejects with the error text. */
function psql(args, timeoutMs, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'psql',
      ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', ...args],
      { timeout: timeoutMs, env: { ...process.env, PGCONNECT_TIMEOUT: String(Math.ceil(timeoutMs / 1000)) } },
      (err, stdout, stderr) => {
        if (err) reject(new Error((stderr || err.message).trim().split('\n')[0]));
        else resolve(stdout.trim());
      },
    );
    child.stdin.end(input || '');
  });
}

/**
 * The columns this code reads, checked once their table exists (a database that was never
 * migrated still counts as ready, as before migrations ran in the pipeline). A migration that
 * drops one (v5-breaking in the lab) makes this release and every older one unready until the
 * database is restored.
 */
const REQUIRED_COLUMNS = [['visits', 'service']];
const SCHEMA_CHECK = `select coalesce(string_agg('missing ' || t || '.' || c, ', '), 'ok') from (values ${REQUIRED_COLUMNS.map(
  ([t, c]) => `('${t}', '${c}')`,
).join(', ')}) as r(t, c)
 where to_regclass('public.' || t) is not null
   and not exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = t and column_name = c)`;

async function databaseReady() {
  if (NO_DATABASE) return { ok: true, detail: 'no database (APP_DATABASE=none)' };
  if (!process.env.PGHOST) return { ok: false, detail: 'PGHOST is not set' };
  try {
    const out = await psql(['-c', SCHEMA_CHECK], DB_TIMEOUT_MS);
    if (out === 'ok') return { ok: true, detail: 'database answered' };
    return { ok: false, detail: out.startsWith('missing ') ? `schema: ${out}` : `unexpected: ${out}` };
  } catch (e) {
    return { ok: false, detail: e.message };
  }
}

let faultyCount = 0;
const counters = new Map();
function count(route, status) {
  const key = `${route}|${status}`;
  counters.set(key, (counters.get(key) || 0) + 1);
}

function metrics() {
  const lines = [
    '# HELP demo_http_requests_total HTTP requests served.',
    '# TYPE demo_http_requests_total counter',
  ];
  for (const [key, n] of counters) {
    const [route, status] = key.split('|');
    lines.push(`demo_http_requests_total{service="${SERVICE}",route="${route}",status="${status}"} ${n}`);
  }
  lines.push(
    '# HELP demo_uptime_seconds Seconds since the process started.',
    '# TYPE demo_uptime_seconds gauge',
    `demo_uptime_seconds{service="${SERVICE}",version="${VERSION}"} ${((Date.now() - started) / 1000).toFixed(3)}`,
    '',
  );
  return lines.join('\n');
}

function send(res, route, status, type, body) {
  count(route, status);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-app-release': RELEASE });
  res.end(body);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function handle(req, res) {
  // Behind the proxy the service is mounted under /<service>/; accept both forms.
  let url = (req.url || '/').split('?')[0];
  const prefix = `/${SERVICE}`;
  if (url === prefix || url.startsWith(`${prefix}/`)) url = url.slice(prefix.length) || '/';
  const json = (route, status, obj) =>
    send(res, route, status, 'application/json', `${JSON.stringify(obj)}\n`);

  if (url === '/health/live') return json('/health/live', 200, { status: 'live' });
  // Faulty builds (lab fixtures for canary analysis) misbehave everywhere but in health checks,
  // so they get ready and take traffic, as a real bad release would.
  if (!url.startsWith('/health/')) {
    if (DELAY_MS > 0) await new Promise((resolve) => setTimeout(resolve, DELAY_MS));
    faultyCount += 1;
    if (ERROR_EVERY > 0 && faultyCount % ERROR_EVERY === 0)
      return json('fault', 500, { error: 'injected fault', release: RELEASE });
  }
  if (url === '/health/ready') {
    if (FORCE_UNREADY)
      return json('/health/ready', 503, { status: 'unready', detail: 'this build never gets ready' });
    const db = await databaseReady();
    return json('/health/ready', db.ok ? 200 : 503, {
      status: db.ok ? 'ready' : 'unready',
      detail: db.detail,
    });
  }
  if (url === '/version')
    return json('/version', 200, { service: SERVICE, version: VERSION, release: RELEASE });
  if (url === '/metrics') return send(res, '/metrics', 200, 'text/plain; version=0.0.4', metrics());
  if (url === '/') {
    const page = `<!doctype html><html><head><title>${escapeHtml(SERVICE)}</title></head><body>
<h1>${escapeHtml(SERVICE)}</h1><p>version ${escapeHtml(VERSION)}, release ${escapeHtml(RELEASE || '-')}</p>
</body></html>\n`;
    return send(res, '/', 200, 'text/html; charset=utf-8', page);
  }
  return json('other', 404, { error: 'not found' });
}

/**
 * `-- backward-compatible: true|false` in the header comment of a migration file, and optionally
 * `-- phase: expand|contract`. Without a phase, a backward-compatible migration is an expand one
 * and any other is "breaking": neither may run while an older release still serves.
 */
function parseMigration(dir, file) {
  const id = file.replace(/\.sql$/, '');
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad migration name ${file}`);
  const sql = fs.readFileSync(path.join(dir, file), 'utf8');
  const header = sql.split('\n').filter((line) => line.startsWith('--'));
  const flag = header.map((line) => /^--\s*backward-compatible:\s*(true|false)\s*$/.exec(line)).find(Boolean);
  if (!flag)
    throw new Error(`migration ${id} does not declare "-- backward-compatible: true|false" in its header`);
  const backwardCompatible = flag[1] === 'true';
  const declared = header.map((line) => /^--\s*phase:\s*(expand|contract)\s*$/.exec(line)).find(Boolean);
  const phase = declared ? declared[1] : backwardCompatible ? 'expand' : 'breaking';
  return { id, backwardCompatible, phase, sql };
}

/**
 * Applies pending migrations in name order, each in its own transaction together with its
 * ledger row. Prints one JSON line per applied migration on stdout ({"id", "backwardCompatible",
 * "phase"}); everything else goes to stderr. A failing migration is rolled back, earlier ones
 * stay applied. `--phase=expand|contract` applies only the pending ones of that phase;
 * `--pending` applies nothing and prints one line per pending migration ({"id", "phase"}).
 */
async function migrate(args) {
  const listOnly = args.includes('--pending');
  const phaseArg = args.find((a) => a.startsWith('--phase='));
  const onlyPhase = phaseArg ? phaseArg.slice('--phase='.length) : undefined;
  if (onlyPhase !== undefined && onlyPhase !== 'expand' && onlyPhase !== 'contract')
    throw new Error(`--phase must be expand or contract, not ${JSON.stringify(onlyPhase)}`);
  const dir = path.join(__dirname, 'migrations');
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.sql'))
        .sort()
    : [];
  const migrations = files.map((f) => parseMigration(dir, f));
  await psql(
    [
      '-c',
      'create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now());' +
        ' alter table schema_migrations add column if not exists backward_compatible boolean',
    ],
    30000,
  );
  const applied = new Set((await psql(['-c', 'select name from schema_migrations'], 30000)).split('\n'));
  let count = 0;
  for (const m of migrations) {
    if (applied.has(m.id)) continue;
    if (listOnly) {
      process.stdout.write(`${JSON.stringify({ id: m.id, phase: m.phase })}\n`);
      continue;
    }
    if (onlyPhase && m.phase !== onlyPhase) continue;
    const ledger = `insert into schema_migrations (name, backward_compatible) values ('${m.id}', ${m.backwardCompatible});`;
    try {
      await psql(['-1', '-f', '-'], 120000, `${m.sql}\n;\n${ledger}\n`);
    } catch (e) {
      throw new Error(
        `migration ${m.id} failed and was rolled back (${count} applied before it in this run): ${e.message}`,
      );
    }
    count += 1;
    process.stdout.write(
      `${JSON.stringify({ id: m.id, backwardCompatible: m.backwardCompatible, phase: m.phase })}\n`,
    );
    process.stderr.write(`migration ${m.id}: applied (backward compatible: ${m.backwardCompatible})\n`);
  }
  process.stderr.write(`migrations: ${count} applied, ${migrations.length - count} already in the ledger\n`);
}

if (process.argv[2] === 'migrate') {
  migrate(process.argv.slice(3)).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
} else {
  const inFlight = new Set();
  const server = http.createServer((req, res) => {
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
    handle(req, res).catch((e) => {
      log(`error: ${e.message}`);
      if (!res.headersSent) send(res, 'error', 500, 'text/plain', 'internal error\n');
    });
  });
  // Longer than the proxy keeps an idle connection to us (Traefik: 90 s). With Node's 5 s, a
  // connection Traefik reuses just as this side closes it answers users with a 502 (one in
  // about 13 000 requests in a CI run of the blue-green test under load).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.listen(PORT, '0.0.0.0', () => log(`listening on :${PORT} release=${RELEASE || '-'}`));

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stop accepting, ${inFlight.size} request(s) in flight`);
    server.close(() => {
      log('stopped');
      process.exit(0);
    });
    // Idle keep-alive sockets would hold close() open; in-flight requests get up to 5 s.
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
