import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A lab certificate authority made with the openssl CLI, for TLS in front of Temporal in the
 * tests: a CA, server certificates for loopback names, client certificates, and certificates
 * whose validity ended long ago (an `openssl ca` signing with explicit dates, which
 * `openssl x509` cannot backdate). EC P-256 keys: quick to make.
 */
export interface LabCa {
  dir: string;
  name: string;
  cert: string;
  key: string;
}

export interface Issued {
  cert: string;
  key: string;
}

/** `openssl req` arguments for a new EC P-256 key, written unencrypted. */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the lab CA needs the openssl CLI, which is not on PATH');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

export function makeCa(dir: string, name: string): LabCa {
  const caDir = join(dir, name);
  mkdirSync(join(caDir, 'issued'), { recursive: true });
  const ca = { dir: caDir, name, cert: join(caDir, 'ca.pem'), key: join(caDir, 'ca.key') };
  openssl(
    [
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      ca.key,
      '-out',
      ca.cert,
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    caDir,
  );
  writeFileSync(join(caDir, 'index.txt'), '');
  writeFileSync(join(caDir, 'serial'), '1000\n');
  writeFileSync(
    join(caDir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = lab',
      '[lab]',
      `database = ${join(caDir, 'index.txt')}`,
      `new_certs_dir = ${join(caDir, 'issued')}`,
      `certificate = ${ca.cert}`,
      `private_key = ${ca.key}`,
      `serial = ${join(caDir, 'serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  return ca;
}

export interface IssueOptions {
  /** File name stem and common name. */
  name: string;
  use: 'server' | 'client';
  /** DNS names and IP addresses (servers). */
  altNames?: string[];
  /** A certificate whose validity ended in the past (2020-01-01 to 2020-01-02). */
  expired?: boolean;
}

export function issue(ca: LabCa, options: IssueOptions): Issued {
  const stem = join(ca.dir, options.name);
  const issued = { cert: `${stem}.pem`, key: `${stem}.key` };
  openssl(
    ['req', ...NEW_EC_KEY, '-keyout', issued.key, '-out', `${stem}.csr`, '-subj', `/CN=${options.name}`],
    ca.dir,
  );
  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${options.use === 'server' ? 'serverAuth' : 'clientAuth'}`,
  ];
  const alt = (options.altNames ?? []).map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`));
  if (alt.length) extensions.push(`subjectAltName=${alt.join(',')}`);
  writeFileSync(`${stem}.ext`, extensions.join('\n') + '\n');
  const dates = options.expired
    ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']
    : ['-days', '30'];
  openssl(
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      join(ca.dir, 'ca.cnf'),
      ...dates,
      '-in',
      `${stem}.csr`,
      '-out',
      issued.cert,
      '-extfile',
      `${stem}.ext`,
    ],
    ca.dir,
  );
  return issued;
}
