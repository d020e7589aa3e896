export * from './verdicts.js';
export { chiSquareUniform } from './stats.js';
export { expectLab, ObservationError, type LabExpect } from './lab-expect.js';
