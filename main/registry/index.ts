/** Public surface of the registry: the class, record shapes, lifecycle table and schema info. */
export * from './registry.js';
export * from './records.js';
export * from './transitions.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate, type Migration, type MigrationResult } from './schema.js';
