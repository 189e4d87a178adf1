import { Client, Connection } from '@temporalio/client';
import { temporalAddressProblem, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** One connection per command; an unreachable Temporal is its own exit code, so CI can retry. */
export async function connect(settings: Settings): Promise<Client> {
  // A mistyped address is the user's to fix, not a reason for CI to retry (exit 4 invites that).
  const problem = temporalAddressProblem(settings.temporalAddress);
  if (problem) throw new CliExit(ExitCode.invalidInput, `${problem}; nothing was started`);
  try {
    const connection = await Connection.connect({ address: settings.temporalAddress, connectTimeout: '5s' });
    return new Client({ connection, namespace: settings.namespace });
  } catch (err) {
    throw new CliExit(
      ExitCode.temporalUnreachable,
      `cannot reach Temporal at ${settings.temporalAddress}: ${(err as Error).message} (set TEMPORAL_ADDRESS, or start it with npm run temporal -- start)`,
    );
  }
}
