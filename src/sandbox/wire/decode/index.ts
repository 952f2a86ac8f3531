export * from './codec.js';
export * from './identifier.js';
export * from './formats.js';
export * from './commands.js';
export * from './reads.js';
export * from './admin.js';
