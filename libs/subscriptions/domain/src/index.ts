export * from './membership';
export * from './intervals';
export * from './page-token';
