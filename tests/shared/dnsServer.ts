import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DnsRecords } from '../../lab/dnsServer';
import { startListening } from './labProcess';

const ROOT = resolve(__dirname, '..', '..');

export interface DnsServer {
  /** 127.0.0.1:<port>, as `resolvers` takes it. */
  resolver: string;
  /** What the names resolve to from the next query on. */
  setRecords(records: DnsRecords): void;
  stop(): Promise<void>;
}

/** The lab's DNS server (lab/dnsServer.ts) as a process of its own, answering from `records`. */
export async function startDnsServer(records: DnsRecords): Promise<DnsServer> {
  const dir = mkdtempSync(join(ROOT, '.data', 'dns-'));
  const file = join(dir, 'records.json');
  // Whole files only: the server reads the file on every query.
  const setRecords = (next: DnsRecords) => {
    writeFileSync(`${file}.tmp`, JSON.stringify(next));
    renameSync(`${file}.tmp`, file);
  };
  setRecords(records);
  const { address, stop } = await startListening(
    'the lab DNS server',
    ['lab/dnsServer.ts', '--records', file],
    {},
    /^listening on (127\.0\.0\.1:\d+)$/,
  );
  return { resolver: address, setRecords, stop };
}
