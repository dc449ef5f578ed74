/** The export manifest lives in main/common (the serving runtime reads it too); re-exported for the export domain. */
export * from '../common/export-manifest.js';
