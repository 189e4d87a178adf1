import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * This tool's root: the nearest directory above this module that holds package.json. Works from
 * the sources (run by tsx or ts-jest), from a build (dist/src/shared) and from an installed
 * package or the worker image, where the scripts it ships (server-setup.sh) live under it.
 */
export function projectRoot(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}
