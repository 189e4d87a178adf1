export { deployEnvironment } from './deployEnvironment';
export { environmentLease } from './environmentLease';
