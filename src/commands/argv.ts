/**
 * A command as data: argv[0] and its arguments, never a shell line. Every builder in commands/
 * returns one; the SSH executor quotes it and the local runner spawns it without a shell.
 */
export type Argv = readonly string[];
