// Workflow tests start a real Temporal server and workers: seconds, not milliseconds.
jest.setTimeout(60_000);
