export { deployEnvironment } from './deployEnvironment';
export { environmentLease } from './environmentLease';
export { backupEnvironment } from './backupEnvironment';
export { drDrill } from './drDrill';
export { emergencyDeploy } from './emergencyDeploy';
export { readCatalog } from './readCatalog';
export { retireColour } from './retireColour';
export { checkEnvironment } from './checkEnvironment';
