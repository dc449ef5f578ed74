/** JSON value types live in main/common; re-exported for the event domain. */
export * from '../common/json.js';
