/**
 * Machine-wide prerequisites: the tools, and the two podman settings files. scripts/bootstrap.sh
 * installs and writes them on a fresh machine; `lab up` checks them and, as root, writes the
 * missing settings itself (saying so).
 */
import * as fs from 'node:fs';
import { REGISTRY_ADDR } from './paths';
import { LabError, progress, writeFileAtomic } from './util';

export const CONTAINERS_CONF = '/etc/containers/containers.conf';
export const REGISTRIES_CONF = '/etc/containers/registries.conf.d/lab.conf';

export const CONTAINERS_CONF_CONTENT = `# Podman settings this machine needs (written by the durable-deploy lab / bootstrap):
# no CAP_SYS_RESOURCE here, so containers must not set rlimits; crun refuses the hybrid cgroup layout.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
`;

export const REGISTRIES_CONF_CONTENT = `# The durable-deploy lab's local image registry speaks plain HTTP on loopback.
[[registry]]
location = "${REGISTRY_ADDR}"
insecure = true
`;

const TOOLS = [
  'podman',
  'runc',
  'docker',
  'docker-compose',
  'sshd',
  'ssh-keygen',
  'docker-registry',
  'debootstrap',
];
const TOOL_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function missingTools(): string[] {
  const dirs = [...new Set([...(process.env.PATH || '').split(':').filter(Boolean), ...TOOL_DIRS])];
  return TOOLS.filter((t) => !dirs.some((d) => isExecutable(`${d}/${t}`)));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Strips comments and blank lines so we can look for settings regardless of formatting. */
function settingsOf(file: string): string | undefined {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .join('\n');
  } catch {
    return undefined;
  }
}

export function containersConfProblems(): string[] {
  const s = settingsOf(CONTAINERS_CONF);
  if (s === undefined) return [`${CONTAINERS_CONF} is missing`];
  const problems: string[] = [];
  if (!/^default_ulimits\s*=\s*\[\s*\]$/m.test(s))
    problems.push(`${CONTAINERS_CONF}: [containers] default_ulimits = [] not set`);
  if (!/^runtime\s*=\s*"runc"$/m.test(s))
    problems.push(`${CONTAINERS_CONF}: [engine] runtime = "runc" not set`);
  return problems;
}

export function registriesConfProblems(): string[] {
  const s = settingsOf(REGISTRIES_CONF);
  if (s === undefined) return [`${REGISTRIES_CONF} is missing (${REGISTRY_ADDR} must be declared insecure)`];
  if (!s.includes(`"${REGISTRY_ADDR}"`) || !/insecure\s*=\s*true/.test(s)) {
    return [`${REGISTRIES_CONF} does not declare ${REGISTRY_ADDR} insecure`];
  }
  return [];
}

/**
 * Checks the machine; writes missing podman settings when root. Returns true when a settings
 * file was written (running engines then need a restart: podman reads them once per process).
 */
export function ensureSystem(): boolean {
  const tools = missingTools();
  if (tools.length) {
    throw new LabError(
      `missing tools: ${tools.join(', ')}. Run scripts/bootstrap.sh (apt packages: podman runc docker-compose openssh-server docker-registry debootstrap).`,
    );
  }
  const isRoot = process.getuid?.() === 0;
  let wrote = false;
  const fix = (problems: string[], file: string, content: string) => {
    if (!problems.length) return;
    if (!isRoot) {
      throw new LabError(
        `podman is not set up for the lab:\n  ${problems.join('\n  ')}\nRun scripts/bootstrap.sh as root.`,
      );
    }
    if (fs.existsSync(file)) {
      const backup = `${file}.before-lab`;
      if (!fs.existsSync(backup)) fs.copyFileSync(file, backup);
      progress(`    ${file}: ${problems.join('; ')}; rewriting it (previous content kept in ${backup})`);
    } else {
      progress(`    writing ${file} (${problems.join('; ')})`);
    }
    writeFileAtomic(file, content);
    wrote = true;
  };
  fix(containersConfProblems(), CONTAINERS_CONF, CONTAINERS_CONF_CONTENT);
  fix(registriesConfProblems(), REGISTRIES_CONF, REGISTRIES_CONF_CONTENT);
  return wrote;
}
