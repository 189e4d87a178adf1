import { InvalidArgumentError, Option } from 'commander';

/** Options several verbs share, declared once so their defaults and parsing cannot drift. */

/** A parser for a whole number of seconds of at least `min`. */
export function wholeSeconds(min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(
        min > 0
          ? 'must be a positive whole number of seconds'
          : 'must be a whole number of seconds, 0 or more',
      );
    return n;
  };
}

/** A parser for a whole number from `min` to `max` (a count of lines, entries, seconds). */
export function wholeNumberIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** `--by`: who asks, by default the CI actor or the local user; `recorded` says where it lands. */
export function byOption(recorded: string): Option {
  return new Option('--by <name>', `who asks (recorded ${recorded})`).default(
    process.env.GITHUB_ACTOR || process.env.USER || 'unknown',
  );
}

/** `--worker-wait`: how long a verb that needs a worker waits for one before exit 9. */
export function workerWaitOption(): Option {
  return new Option(
    '--worker-wait <seconds>',
    'how long to wait for a worker on the task queue before giving up with nothing started',
  )
    .default(30)
    .argParser(wholeSeconds(0));
}
