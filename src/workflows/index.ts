export { deployEnvironment } from './deployEnvironment';
