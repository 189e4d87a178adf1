/** One finding of `deployctl config check`: what was checked, where, and what to fix. */
export interface ConfigCheck {
  check: string;
  /** The file, secret or host it concerns. */
  where: string;
  verdict: 'ok' | 'warn' | 'failed';
  detail: string;
}

export interface ConfigCheckReport {
  environment: string;
  checks: ConfigCheck[];
}
