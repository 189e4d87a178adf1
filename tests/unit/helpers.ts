import { join } from 'node:path';
import { loadEnvironment } from '../../src/config/load';

export const FIXTURES = join(__dirname, '..', 'fixtures', 'environments');
export const stagingFixture = () => loadEnvironment(FIXTURES, 'staging');
