export * from './conversation';
export * from './versions';
