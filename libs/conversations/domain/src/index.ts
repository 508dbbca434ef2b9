export * from './conversation';
export * from './retention';
export * from './versions';
