import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { environmentSchema, nameSchema, type EnvironmentConfig } from './schema';
import { ConfigError, configErrorFromZod } from './errors';

/** Environment files end in .yaml or .yml; both spellings of one name are refused. */
const EXTENSIONS = ['.yaml', '.yml'] as const;

/** The environment a config file names (`staging.yml` -> `staging`). */
export const environmentName = (file: string) => EXTENSIONS.reduce((n, ext) => basename(n, ext), file);

/** Whether the loader reads this file of the config dir as an environment. */
export const isEnvironmentFile = (file: string) => EXTENSIONS.some((ext) => file.endsWith(ext));

/** `<configDir>/<name>.yaml` or `<name>.yml`, whichever exists; undefined when neither does. */
export function environmentFile(configDir: string, name: string): string | undefined {
  const present = EXTENSIONS.map((ext) => resolve(join(configDir, `${name}${ext}`))).filter((f) =>
    existsSync(f),
  );
  if (present.length > 1) throw bothSpellings(name, present);
  return present[0];
}

function bothSpellings(name: string, files: string[]): ConfigError {
  const problem = `environment "${name}" is configured twice: ${files.join(' and ')}; keep one`;
  return new ConfigError(problem, files[0], [problem]);
}

/** Load and validate `<configDir>/<name>.yaml` (or .yml); every problem names the file, the key and the rule. */
export function loadEnvironment(configDir: string, name: string): EnvironmentConfig {
  const checkedName = nameSchema.safeParse(name);
  if (!checkedName.success) {
    throw configErrorFromZod('environment name', checkedName.error, name);
  }
  const file = environmentFile(configDir, name);
  if (!file) {
    const expected = resolve(join(configDir, `${name}${EXTENSIONS[0]}`));
    throw new ConfigError(
      `environment "${name}" is not configured: ${expected} does not exist (nor ${name}.yml)`,
      expected,
      [`${expected}: file not found`],
    );
  }
  return parseEnvironment(readFileSync(file, 'utf8'), file, name);
}

/**
 * Every environment of the config dir (each `*.yaml` or `*.yml`, sorted by name), for what spans them all
 * (the schedules). One bad file fails the whole load, naming the file: a partial list would
 * look like environments were removed, and `schedules apply --prune` would delete theirs.
 */
export function listEnvironments(configDir: string): EnvironmentConfig[] {
  const dir = resolve(configDir);
  if (!existsSync(dir)) {
    throw new ConfigError(`config dir ${dir} does not exist (set DEPLOY_CONFIG_DIR)`, dir, [
      `${dir}: directory not found`,
    ]);
  }
  const files = readdirSync(dir).filter(isEnvironmentFile).sort();
  const names = files.map(environmentName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined)
    throw bothSpellings(
      twice,
      files.filter((f) => environmentName(f) === twice).map((f) => join(dir, f)),
    );
  return files.map((f) => {
    const file = join(dir, f);
    const name = environmentName(f);
    const checkedName = nameSchema.safeParse(name);
    if (!checkedName.success) {
      const problem = `file name: value ${JSON.stringify(name)} ${checkedName.error.issues[0]?.message ?? 'is invalid'}`;
      throw new ConfigError(`${file} is invalid:\n  ${problem}`, file, [problem]);
    }
    return parseEnvironment(readFileSync(file, 'utf8'), file, name);
  });
}

export function parseEnvironment(text: string, source: string, expectedName?: string): EnvironmentConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${source} is not valid YAML: ${(err as Error).message}`, source, [
      (err as Error).message,
    ]);
  }
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) throw configErrorFromZod(source, parsed.error, raw);
  if (expectedName !== undefined && parsed.data.name !== expectedName) {
    const problem = `name: value ${JSON.stringify(parsed.data.name)} must equal the file name "${expectedName}"`;
    throw new ConfigError(`${source} is invalid:\n  ${problem}`, source, [problem]);
  }
  return parsed.data;
}
