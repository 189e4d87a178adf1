// A quality gate the pipeline runs at the release's commit: start the server on a free
// port with no database and check what it must answer without one. Bounded: 20 s at most.
const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function get(port, url) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: url, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

async function main() {
  const port = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    SERVICE_NAME: 'smoke',
    APP_VERSION: 'test',
    APP_RELEASE: 'gate',
  };
  delete env.PGHOST;
  delete env.APP_DATABASE;
  const server = spawn(process.execPath, [path.join(__dirname, '..', 'server.js')], {
    env,
    stdio: 'inherit',
  });
  const deadline = Date.now() + 20000;
  const failures = [];
  try {
    let live;
    while (Date.now() < deadline) {
      live = await get(port, '/health/live').catch(() => undefined);
      if (live) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!live || live.status !== 200)
      failures.push(`/health/live answered ${live ? live.status : 'nothing'}`);
    const version = await get(port, '/version');
    const parsed = JSON.parse(version.body);
    if (parsed.service !== 'smoke' || parsed.version !== 'test' || parsed.release !== 'gate') {
      failures.push(`/version answered ${version.body}`);
    }
    const ready = await get(port, '/health/ready');
    if (ready.status !== 503)
      failures.push(`/health/ready without a database answered ${ready.status}, expected 503`);
    const metrics = await get(port, '/metrics');
    if (metrics.status !== 200 || !/^# TYPE /m.test(metrics.body))
      failures.push('/metrics is not Prometheus text');
  } finally {
    server.kill('SIGTERM');
  }
  if (failures.length) {
    console.error(`smoke test failed:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log('smoke test passed: live, version, ready-without-db and metrics answer as expected');
}

main().catch((err) => {
  console.error(`smoke test failed: ${err.message}`);
  process.exit(1);
});
