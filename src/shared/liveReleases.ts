import type { ReleaseRecord } from './deployment';

/** What one host of an environment runs, by its own record (releases/current.json). */
export interface HostRelease {
  host: string;
  /** Absent when the host has no record: never deployed, or its record is not readable JSON. */
  live?: ReleaseRecord;
  /** Why the host could not be read (unreachable, refused). */
  error?: string;
}

export interface LiveReleases {
  environment: string;
  hosts: HostRelease[];
}
