/**
 * A DNS server for the lab: real UDP DNS on loopback, authoritative for the names in a records
 * file it reads again on every query, so a test changes what a name resolves to by rewriting
 * the file. The domain checks ask it instead of the machine's resolver (`resolvers`).
 *
 *   npx tsx lab/dnsServer.ts --records FILE [--port N]
 *
 * The records file is JSON: {"site.example.test": ["127.0.0.2", "::1"], ...}. A name in it gets
 * its A or AAAA records (an empty answer when it has none of the asked type); any other name
 * gets NXDOMAIN. Prints `listening on 127.0.0.1:<port>` once it answers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { Command } from 'commander';
import * as packet from 'dns-packet';

export type DnsRecords = Record<string, string[]>;

const RCODE_NXDOMAIN = 3;
const RCODE_SERVFAIL = 2;

/** The answer to one query packet, or undefined for a packet that is no query. */
export function answer(query: Buffer, records: DnsRecords): Buffer | undefined {
  let decoded: packet.Packet;
  try {
    decoded = packet.decode(query);
  } catch {
    return undefined;
  }
  if (decoded.type !== 'query' || !decoded.questions?.length) return undefined;
  const question = decoded.questions[0]!;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const addresses = Object.prototype.hasOwnProperty.call(records, name) ? records[name] : undefined;
  const wanted = question.type === 'A' ? isIPv4 : question.type === 'AAAA' ? isIPv6 : () => false;
  const answers = (addresses ?? []).filter(wanted).map((data): packet.Answer => ({
    type: question.type as 'A' | 'AAAA',
    name: question.name,
    class: 'IN',
    ttl: 5,
    data,
  }));
  return packet.encode({
    type: 'response',
    id: decoded.id,
    // Authoritative answer; NXDOMAIN for a name the file does not hold.
    flags: packet.AUTHORITATIVE_ANSWER | (addresses ? 0 : RCODE_NXDOMAIN),
    questions: [question],
    answers,
  });
}

function readRecords(file: string): DnsRecords {
  return JSON.parse(readFileSync(file, 'utf8')) as DnsRecords;
}

/** Serves the records file on 127.0.0.1; resolves with the socket once it is bound. */
export function serveDns(recordsFile: string, port = 0): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (message, from) => {
    let reply: Buffer | undefined;
    try {
      reply = answer(message, readRecords(recordsFile));
    } catch {
      // An unreadable records file (a test halfway through rewriting it): the client retries.
      const id = message.length >= 2 ? message.readUInt16BE(0) : 0;
      reply = packet.encode({ type: 'response', id, flags: RCODE_SERVFAIL, questions: [] });
    }
    if (reply) socket.send(reply, from.port, from.address);
  });
  return new Promise((done, fail) => {
    socket.once('error', fail);
    socket.bind(port, '127.0.0.1', () => done(socket));
  });
}

async function main(): Promise<void> {
  const opts = new Command()
    .name('dns-server')
    .requiredOption('--records <file>', 'JSON file of name -> addresses, read on every query')
    .option('--port <n>', 'UDP port on 127.0.0.1 (0: any free one)', '0')
    .parse()
    .opts<{ records: string; port: string }>();
  readRecords(opts.records);
  const socket = await serveDns(opts.records, Number(opts.port));
  console.log(`listening on 127.0.0.1:${socket.address().port}`);
  const stop = () => socket.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`dns-server: ${err.message}`);
    process.exit(1);
  });
}
