import { join } from 'node:path';
import { loadEnvironment } from '../../src/config/load';

export const FIXTURES = join(__dirname, '..', 'fixtures', 'environments');
export const stagingFixture = () => loadEnvironment(FIXTURES, 'staging');

/** The compose prefix every command of the staging fixture starts with (written out: argv tests are exact). */
export const STAGING_COMPOSE_BASE = [
  'docker',
  'compose',
  '--project-name',
  'shop',
  '--project-directory',
  '/srv/apps/shop',
  '--env-file',
  '/srv/apps/shop/.env',
  '--file',
  '/srv/apps/shop/docker-compose.yml',
];
