import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AesGcmCodec, EncryptionConfigError, loadEncryptionKeys } from '../codec/encryption';
import { startCodecServer } from '../codec/server';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

interface CodecServerFlags {
  listen: string;
  uiOrigin: string[];
  tokenFile?: string;
}

/** `host:port` (an IPv6 host in brackets), the port 0 to 65535. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new CliExit(
      ExitCode.invalidInput,
      `--listen: value "${value}" must be HOST:PORT, e.g. 127.0.0.1:8888`,
    );
  return { host: m[1] ?? m[2], port };
}

export function parseOrigin(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== value.replace(/\/$/, ''))
    throw new CliExit(
      ExitCode.invalidInput,
      `--ui-origin: value "${value}" must be the Web UI's origin as the browser sends it: scheme, host and port, no path (e.g. http://127.0.0.1:8233)`,
    );
  return url.origin;
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliExit(
      ExitCode.invalidInput,
      `--token-file: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  if (!/^[\x21-\x7e]{16,}$/.test(token))
    throw new CliExit(
      ExitCode.invalidInput,
      `--token-file: ${file} must hold one token of at least 16 printable characters without spaces`,
    );
  return token;
}

async function codecServerCommand(flags: CodecServerFlags): Promise<ExitCode> {
  const { host, port } = parseListen(flags.listen);
  const origins = flags.uiOrigin.map(parseOrigin);
  if (!origins.length)
    throw new CliExit(
      ExitCode.invalidInput,
      '--ui-origin: give the Web UI origin (e.g. http://127.0.0.1:8233)',
    );
  const token = flags.tokenFile ? readToken(flags.tokenFile) : undefined;
  let keys;
  try {
    keys = loadEncryptionKeys(process.env);
  } catch (err) {
    if (err instanceof EncryptionConfigError) throw new CliExit(ExitCode.invalidInput, err.message);
    throw err;
  }
  if (!keys)
    throw new CliExit(
      ExitCode.invalidInput,
      'codec-server decodes with the encryption keys: set DEPLOY_ENCRYPTION_KEYS_FILE (or DEPLOY_ENCRYPTION_KEYS) as for the worker',
    );
  const server = await startCodecServer({ codec: new AesGcmCodec(keys), host, port, origins, token });
  console.log(
    `codec server on ${server.url} for ${origins.join(', ')}${token ? ' (Authorization: Bearer token required)' : ''}\n` +
      `point the Web UI at it: TEMPORAL_CODEC_ENDPOINT=${server.url} (the UI container), or temporal server start-dev --ui-codec-endpoint ${server.url}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return ExitCode.succeeded;
}

export function addCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description(
      "serve Temporal's remote codec protocol (POST /decode, /encode) with the encryption keys, so the Web UI and the temporal CLI show encrypted payloads decoded",
    )
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:8888')
    .option(
      '--ui-origin <origin>',
      "the Web UI's origin allowed to call it from a browser (repeat for several)",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--token-file <file>', 'require Authorization: Bearer <the token in this file> on every request')
    .addHelpText(
      'after',
      `
Keys come from DEPLOY_ENCRYPTION_KEYS_FILE or DEPLOY_ENCRYPTION_KEYS, as for the worker. Run it
where only operators reach it: whoever reaches it can decode. Exit codes: 0 stopped by SIGINT or
SIGTERM, 2 invalid input (flags, keys).`,
    )
    .action(async (flags: CodecServerFlags) => {
      process.exitCode = await codecServerCommand(flags);
    });
}
