export * from './conversation';
export * from './retention';
export * from './versions';
export * from './diffusion';
