export default {
  displayName: 'runtime-tests',
  preset: '../../jest.preset.js',
  rootDir: '.',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../../tsconfig.spec.json' }],
  },
};
