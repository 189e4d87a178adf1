/**
 * Exit codes have one source (src/client/exitCodes.ts): every code has a meaning, deployctl's
 * help prints each one, and the README's table says the same words.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../../../src/client';
import { EXIT_CODE_MEANINGS, ExitCode } from '../../../src/client/exitCodes';

const README = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

test('every exit code has one meaning, and no meaning lacks a code', () => {
  expect(Object.keys(EXIT_CODE_MEANINGS).map(Number).sort()).toEqual(Object.values(ExitCode).sort());
});

test("deployctl --help prints every code's meaning", () => {
  let help = '';
  const program = buildProgram().configureOutput({ writeOut: (text) => (help += text) });
  program.outputHelp();
  const block = squash(help.slice(help.indexOf('Exit codes:')));
  for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS)) {
    expect(block).toContain(`${code} ${meaning}`);
  }
});

test("the README's exit-code table says what the source says", () => {
  const rows = [...README.matchAll(/^\| (\d+) +\| (.+?) +\|$/gm)].map(([, code, text]) => [
    Number(code),
    text.replace(/`/g, ''),
  ]);
  expect(Object.fromEntries(rows)).toEqual(
    Object.fromEntries(Object.entries(EXIT_CODE_MEANINGS).map(([code, text]) => [Number(code), text])),
  );
});
