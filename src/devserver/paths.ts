import { join } from 'node:path';
import { projectRoot } from '../shared/projectRoot';

/** Where bootstrap puts the project's own tools (`.tools/venv/bin/temporal`, ...). */
export function toolsBinDir(root: string = projectRoot()): string {
  return join(root, '.tools', 'venv', 'bin');
}
