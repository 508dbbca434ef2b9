export * from './conversation';
export * from './retention';
