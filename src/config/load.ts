import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
