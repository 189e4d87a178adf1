import { DEFAULT_WORKER_SLOTS, describeSlots, workerSlots } from '../../src/worker/slots';

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
    ['DEPLOY_MAX_ACTIVITIES', '0'],
    ['DEPLOY_MAX_ACTIVITIES', '-5'],
    ['DEPLOY_MAX_ACTIVITIES', '1.5'],
    ['DEPLOY_MAX_WORKFLOW_TASKS', 'many'],
    ['DEPLOY_MAX_WORKFLOW_TASKS', '10001'],
  ])('%s=%j is refused naming the variable, the value and the rule', (name, value) => {
    expect(() => workerSlots({ [name]: value })).toThrow(
      `${name} ${JSON.stringify(value)} must be a whole number from 1 to 10000`,
    );
  });
});
