import { Command } from 'commander';
import { ExitCode, exitCodesHelp } from './client/exitCodes';
import { CliExit } from './client/cliExit';
import { addDeployCommands } from './client/deployCommands';
import { addDecisionCommands } from './client/decisionCommands';
import { addHistoryCommand } from './client/history';
import { addLockCommands } from './client/lockCommands';
import { addAuditCommand } from './client/auditCommand';
import { addReportCommand } from './client/reportCommand';
import { addLogsCommand } from './client/logsCommand';
import { addOperationCommands } from './client/operationCommands';
import { addConfigCommands } from './client/configCheck';
import { addInitCommand } from './client/init';
import { addSetupCommand } from './client/setup';
import { addCodecServerCommand } from './client/codecServer';
import { annotation, inGithubActions } from './client/githubActions';

/** deployctl: the program, its commands (each in its module under src/client/) and the exit. */
export function buildProgram(): Command {
  const program = new Command('deployctl')
    .description('Durable deployments of a Docker Compose app, run as Temporal workflows')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
${exitCodesHelp()}

Environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default),
DEPLOY_TASK_QUEUE (deployments), TEMPORAL_UI_URL (http://127.0.0.1:8233)`,
    );

  addDeployCommands(program);
  addDecisionCommands(program);
  addHistoryCommand(program);
  addLockCommands(program);
  addAuditCommand(program);
  addReportCommand(program);
  addLogsCommand(program);
  addOperationCommands(program);
  addConfigCommands(program);
  addInitCommand(program);
  addSetupCommand(program);
  addCodecServerCommand(program);

  return program;
}

/** The program and every command under it, at any depth (schedules apply, schedules list). */
function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  // Usage errors are invalid input: nothing was started. Subcommands copy settings when they are
  // created, so each one gets the override too (else a bad subcommand flag exits with 1).
  const usageExit = (err: { exitCode: number }) =>
    process.exit(err.exitCode === 0 ? 0 : ExitCode.invalidInput);
  for (const command of allCommands(program)) command.exitOverride(usageExit);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CliExit) {
      console.error(`deployctl: ${err.message}`);
      const note = inGithubActions() ? annotation(err.code, err.message) : undefined;
      if (note) console.error(note);
      process.exitCode = err.code;
      return;
    }
    console.error(`deployctl: ${(err as Error).message}`);
    process.exitCode = ExitCode.failedUnhealthy;
  }
}

if (require.main === module) void main();
