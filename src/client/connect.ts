import { Client, Connection } from '@temporalio/client';
import {
  ConnectionConfigError,
  connectFailureHint,
  connectOptions,
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
  try {
    const connection = await Connection.connect({
      ...connectOptions(profile),
      address: settings.temporalAddress,
      connectTimeout: '5s',
    });
    return new Client({ connection, namespace: settings.namespace, dataConverter });
  } catch (err) {
    // A certificate or key the server refuses is the user's to fix, like a mistyped address.
    const hint = connectFailureHint(profile, (err as Error).message);
    if (hint)
      throw new CliExit(ExitCode.invalidInput, `${hint} (${(err as Error).message}); nothing was started`);
    throw new CliExit(
      ExitCode.temporalUnreachable,
      `cannot reach Temporal at ${settings.temporalAddress}: ${(err as Error).message} (set TEMPORAL_ADDRESS, or start it with npm run temporal -- start)`,
    );
  }
}
