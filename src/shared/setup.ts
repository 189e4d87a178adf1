/** One line of the server-setup script: each step says whether it did something. */
export interface SetupStep {
  step: string;
  result: 'done' | 'skipped';
  detail: string;
}

/** What `deployctl setup` did on each host of an environment. */
export interface SetupReport {
  environment: string;
  hosts: { host: string; steps: SetupStep[]; failure?: string }[];
}
