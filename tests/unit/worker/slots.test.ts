import { DEFAULT_WORKER_SLOTS, describeSlots, workerSlots } from '../../../src/worker/slots';

describe('worker slots', () => {
  test("unset or empty: the SDK's defaults, spelled out", () => {
    expect(workerSlots({})).toEqual({ activities: 100, workflowTasks: 40 });
    expect(workerSlots({ DEPLOY_MAX_ACTIVITIES: '', DEPLOY_MAX_WORKFLOW_TASKS: '' })).toEqual(
      DEFAULT_WORKER_SLOTS,
    );
    expect(describeSlots(DEFAULT_WORKER_SLOTS)).toBe('100 activities and 40 workflow tasks at once');
  });

  test('each variable sets its own count', () => {
    expect(workerSlots({ DEPLOY_MAX_ACTIVITIES: '250' })).toEqual({ activities: 250, workflowTasks: 40 });
    expect(workerSlots({ DEPLOY_MAX_WORKFLOW_TASKS: ' 8 ' })).toEqual({ activities: 100, workflowTasks: 8 });
  });

  test.each([
    ['DEPLOY_MAX_ACTIVITIES', '0', 1],
    ['DEPLOY_MAX_ACTIVITIES', '-5', 1],
    ['DEPLOY_MAX_ACTIVITIES', '1.5', 1],
    ['DEPLOY_MAX_WORKFLOW_TASKS', 'many', 2],
    ['DEPLOY_MAX_WORKFLOW_TASKS', '10001', 2],
    // The SDK's two workflow-task pollers each need a slot: the core refuses one.
    ['DEPLOY_MAX_WORKFLOW_TASKS', '1', 2],
  ])('%s=%j is refused naming the variable, the value and the rule', (name, value, min) => {
    expect(() => workerSlots({ [name]: value })).toThrow(
      `${name} ${JSON.stringify(value)} must be a whole number from ${min} to 10000`,
    );
  });
  test('one activity slot is allowed', () => {
    expect(workerSlots({ DEPLOY_MAX_ACTIVITIES: '1', DEPLOY_MAX_WORKFLOW_TASKS: '2' })).toEqual({
      activities: 1,
      workflowTasks: 2,
    });
  });
});
