import type { ExitCode } from './exitCodes';

/** Thrown inside commands to end the process with a documented exit code and a message. */
export class CliExit extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
