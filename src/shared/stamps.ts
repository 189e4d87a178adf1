/**
 * "20261123T140501Z": the UTC second, sortable and safe in file names and workflow ids. One
 * format for every id a person reads: backups, drills, emergency deploys, rollbacks.
 */
export function compactStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
