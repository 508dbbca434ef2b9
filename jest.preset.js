// Shared by every project's jest.config.ts. ts-jest transpiles only (typechecking is `npm run typecheck`),
// and the tsconfig path aliases are mapped so tests import libs the way the apps do.
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.base.json');

module.exports = {
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: __dirname + '/' }),
  testMatch: ['**/*.spec.ts'],
};
