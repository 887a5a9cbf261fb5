export * from './grants';
export { errors, errorBody, AUTHENTICATED, WITH_BODY, WITH_GRANT_ID } from './responses';
export { PATTERN_MEANINGS } from './fields';
