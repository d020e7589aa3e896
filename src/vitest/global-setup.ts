/** `svclab/vitest/global-setup`: list it in vitest's `test.globalSetup`. */
export { default } from '../harness/global-setup.js';
