/** The README's map of the code stays true to the folders: every src/ folder is on it, and everything on it exists. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The code block under "How it fits together" whose lines start with a path. */
const map = (() => {
  const section = README.slice(README.indexOf('## How it fits together'));
  const block = section.slice(section.indexOf('```') + 3, section.indexOf('```', section.indexOf('```') + 3));
  return block
    .split('\n')
    .map((line) => /^(\S+)/.exec(line)?.[1])
    .filter((path): path is string => path !== undefined && /^[\w.-]+(\/[\w.-]*)*,?$/.test(path));
})();

test('every folder of src/ is on the map', () => {
  const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => `src/${e.name}/`);
  expect(folders.filter((f) => !map.includes(f))).toEqual([]);
});

test('every path on the map exists', () => {
  const paths = map.map((p) => p.replace(/,$/, ''));
  expect(paths.length).toBeGreaterThan(15);
  expect(paths.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
});
