import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The project root: the nearest directory above this module that holds package.json. Works
 * from the sources (src/devserver, run by tsx or ts-jest) and from a build (dist/src/devserver).
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

/** Where bootstrap puts the project's own tools (`.tools/venv/bin/temporal`, ...). */
export function toolsBinDir(root: string = projectRoot()): string {
  return join(root, '.tools', 'venv', 'bin');
}
