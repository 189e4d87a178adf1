import type { StoredBackup } from './backups';
import type { DrillReport } from './drills';

/** What the catalog workflow returns to `deployctl backups` / `deployctl drills`. */
export interface CatalogInput {
  environment: string;
  kind: 'backups' | 'drills';
  /** How many records the caller wants in all (newest first), over every page. */
  limit: number;
  /** Where this page starts (0, or the previous page's nextOffset). */
  offset?: number;
}

/**
 * One page of the catalog: records up to about CATALOG_PAGE_BYTES of JSON, so a page stays far
 * below Temporal's 2 MB payload limit however large the records; nextOffset when more follow.
 */
export type CatalogResult = (
  { kind: 'backups'; backups: StoredBackup[] } | { kind: 'drills'; drills: DrillReport[] }
) & { nextOffset?: number };

export const CATALOG_PAGE_BYTES = 512 * 1024;

/**
 * The records of one page: from `offset`, while the total stays within `limit` and the page
 * within `maxBytes` of JSON (always at least one record, so paging moves on).
 */
export function catalogPage<T>(
  records: T[],
  offset: number,
  limit: number,
  maxBytes = CATALOG_PAGE_BYTES,
): { items: T[]; nextOffset?: number } {
  const end = Math.min(records.length, limit);
  const items: T[] = [];
  let bytes = 0;
  for (let i = offset; i < end; i++) {
    const size = new TextEncoder().encode(JSON.stringify(records[i])).length;
    if (items.length > 0 && bytes + size > maxBytes) break;
    items.push(records[i]);
    bytes += size;
  }
  const next = offset + items.length;
  return next < end ? { items, nextOffset: next } : { items };
}
