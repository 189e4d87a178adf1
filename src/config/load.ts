import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { environmentSchema, nameSchema, type EnvironmentConfig } from './schema';
import { ConfigError, configErrorFromZod } from './errors';

export function environmentFile(configDir: string, name: string): string {
  return resolve(join(configDir, `${name}.yaml`));
}

/** Load and validate `<configDir>/<name>.yaml`; every problem names the file, the key and the rule. */
export function loadEnvironment(configDir: string, name: string): EnvironmentConfig {
  const checkedName = nameSchema.safeParse(name);
  if (!checkedName.success) {
    throw configErrorFromZod('environment name', checkedName.error, name);
  }
  const file = environmentFile(configDir, name);
  if (!existsSync(file)) {
    throw new ConfigError(`environment "${name}" is not configured: ${file} does not exist`, file, [
      `${file}: file not found`,
    ]);
  }
  return parseEnvironment(readFileSync(file, 'utf8'), file, name);
}

/**
 * Every environment of the config dir (each `*.yaml`, sorted by name), for what spans them all
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
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const name = basename(f, '.yaml');
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
