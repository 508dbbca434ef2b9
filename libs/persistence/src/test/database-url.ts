/** The test database of the persistence integration tests: this lib sits below libs/testing, so it reads the environment directly (npm test sets it). */
export const testDatabaseUrl = (): string => {
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL (npm test does) to run the persistence integration tests');
  return url;
};
