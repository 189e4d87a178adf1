/**
 * Reading the machine's process table (/proc) for the lab: which processes belong to a lab
 * host. Every lab host runs on this machine, so "the host's process list" is a filter of it.
 */
import * as fs from 'node:fs';

/** /proc/<pid>/<file>, or `fallback` when the process is gone (or never was). */
export function procFile(pid: number | string, file: string, fallback = ''): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return fallback;
  }
}

/** The command line with its arguments joined by spaces. */
export function cmdline(pid: number | string): string {
  return procFile(pid, 'cmdline').split('\0').join(' ').trim();
}

/** The pids of every process but this one. */
export function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Every process below `pid` (an sshd listener's per-connection children and their commands). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of allPids()) {
    // The command name is in parentheses and may contain spaces: the ppid follows the last ')'.
    const stat = procFile(entry, 'stat');
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), entry]);
  }
  const out: number[] = [];
  const todo = [...(children.get(pid) ?? [])];
  while (todo.length) {
    const next = todo.pop() as number;
    out.push(next);
    todo.push(...(children.get(next) ?? []));
  }
  return out;
}

/** Matches a path in the storage of a lab host of this name, in any lab directory. */
export function hostStoragePattern(hostName: string): RegExp {
  return new RegExp(`/hosts/${hostName}/storage(?:/|\\s|$)`);
}

/** Whether the process runs in a container of the host: its root filesystem is in the host's storage. */
export function inHostContainer(pid: number | string, hostName: string): boolean {
  const root = procFile(pid, 'mountinfo')
    .split('\n')
    .find((l) => l.split(' ')[4] === '/');
  return !!root && hostStoragePattern(hostName).test(root.replace(/,/g, ' '));
}
