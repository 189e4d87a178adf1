/** .lab/state.json: what the lab runs, for people and for tests. */
import * as fs from 'node:fs';
import { LabPaths } from './paths';
import { writeFileAtomic } from './util';

export interface HostState {
  name: string;
  address: string;
  sshPort: number;
  environment: string;
  sshdPid?: number;
  enginePid?: number;
  dockerHost: string;
  baseDir: string;
  hostKey: string;
  /** Who the pipeline logs in as (root, or a user with the engine's socket group and the base dir). */
  deployUser: string;
  /** Containers `down` stopped, started again by the next `up`. */
  stoppedContainers?: string[];
}

export interface LabState {
  updatedAt: string;
  labDir: string;
  cacheDir: string;
  registry: { address: string; pid?: number; dataDir: string };
  deployKey: string;
  deployPublicKey: string;
  knownHosts: string;
  secretsFile: string;
  configs: Record<string, string>;
  composeFile: string;
  images: { base: string; pushed: string[]; sizesBytes?: Record<string, number> };
  hosts: HostState[];
  lastUp?: { seconds: number; at: string };
}

export function readState(p: LabPaths): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(p.stateFile, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(p: LabPaths, state: LabState): void {
  writeFileAtomic(
    p.stateFile,
    `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`,
  );
}
