export { waitUntil, type WaitOptions } from '../../src/wait.js';
