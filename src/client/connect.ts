import { Client, Connection } from '@temporalio/client';
import {
  ConnectionConfigError,
  connectOptions,
  explainConnectFailure,
  loadTemporalConnection,
  type TemporalConnection,
} from '../connection/profile';
import { dataConverterFor } from '../codec/dataConverter';
import { EncryptionConfigError } from '../codec/encryption';
import { temporalAddressProblem, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** One connection per command; an unreachable Temporal is its own exit code, so CI can retry. */
export async function connect(settings: Settings): Promise<Client> {
  // A mistyped address is the user's to fix, not a reason for CI to retry (exit 4 invites that).
  const problem = temporalAddressProblem(settings.temporalAddress);
  if (problem) throw new CliExit(ExitCode.invalidInput, `${problem}; nothing was started`);
  let dataConverter: ReturnType<typeof dataConverterFor>;
  try {
    dataConverter = dataConverterFor(process.env);
  } catch (err) {
    if (!(err instanceof EncryptionConfigError)) throw err;
    throw new CliExit(ExitCode.invalidInput, `${err.message}; nothing was started`);
  }
  let profile: TemporalConnection;
  try {
    profile = loadTemporalConnection(process.env);
  } catch (err) {
    if (!(err instanceof ConnectionConfigError)) throw err;
    throw new CliExit(ExitCode.invalidInput, `${err.message}; nothing was started`);
  }
  const reached = { ...profile, address: settings.temporalAddress };
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...connectOptions(reached), connectTimeout: '5s' });
    // Connecting only opens the channel: a call shows whether the server takes our credentials.
    await connection.workflowService.getSystemInfo({});
    return new Client({ connection, namespace: settings.namespace, dataConverter });
  } catch (err) {
    await connection?.close().catch(() => undefined);
    const message = (err as Error).message;
    // A certificate or key the server refuses is the user's to fix, like a mistyped address.
    const explained = await explainConnectFailure(reached, message);
    if (explained) throw new CliExit(ExitCode.invalidInput, `${explained}; nothing was started`);
    throw new CliExit(
      ExitCode.temporalUnreachable,
      `cannot reach Temporal at ${settings.temporalAddress}: ${message} (set TEMPORAL_ADDRESS, or start it with npm run temporal -- start)`,
    );
  }
}

/** Connects, runs `fn`, and closes the connection however `fn` ends: one command's use of Temporal. */
export async function withClient<T>(settings: Settings, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(settings);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}
